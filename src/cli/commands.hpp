// How subcommands plug into the famfs CLI. Each group lives in its own file and registers its
// subcommands into a Commands table; main() parses, runs the chosen action and exits with its
// status. Exit codes follow upstream (spec B§10) and are listed in docs/cli.md.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace famfs::cli {

// Runs after a successful parse and returns the raw rc (the process exits with min(|rc|, 127),
// as upstream).
using Action = std::function<int()>;

// The famfs program's subcommands and their actions.
class Commands {
 public:
  explicit Commands(CLI::App& app) : app_(app) {}
  CLI::App& app() { return app_; }
  // Adds the subcommand with -h/-?/--help, and wraps `action`: a famfs::Error or any other
  // exception escaping it is printed as "famfs NAME: ..." and exits 1.
  CLI::App* add(const std::string& name, const std::string& help, Action action);
  // The action of the subcommand the parse selected, if any.
  std::optional<int> run_selected() const;

 private:
  CLI::App& app_;
  std::map<const CLI::App*, Action> actions_;
};

inline CLI::App* add_command(Commands& cmds, const std::string& name, const std::string& help,
                             Action action) {
  return cmds.add(name, help, std::move(action));
}

// The upstream exit-status rule: min(|rc|, 127).
int exit_status(int rc);

// --system-uuid-file PATH on a subcommand (overrides $FAMFS_SYSTEM_UUID_FILE).
void add_identity_option(CLI::App* cmd, std::string& path);

void register_device_commands(Commands& app); // fsck, mkmeta (cmd_device.cpp)
void register_mount_commands(Commands& app);  // mount, umount, logplay (cmd_mount.cpp)
void register_master_commands(Commands& app); // creat, cp, mkdir, verify, getmap, clone,
                                              // chkread, flush, status (cmd_master.cpp)

} // namespace famfs::cli
