// How subcommands plug into the famfs CLI. Each group lives in its own file and registers its
// subcommands; main() parses, runs the chosen action and exits with its status.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace famfs::cli {

using Action = std::function<int()>;

// Add a subcommand; `action` runs after a successful parse and returns the raw rc (the process
// exits with min(|rc|, 127), as upstream). Options are added to the returned App.
CLI::App* add_command(CLI::App& app, const std::string& name, const std::string& help,
                      Action action);

// The upstream exit-status rule: min(|rc|, 127).
int exit_status(int rc);

// --system-uuid-file PATH on a subcommand (overrides $FAMFS_SYSTEM_UUID_FILE).
void add_identity_option(CLI::App* cmd, std::string& path);

void register_device_commands(CLI::App& app); // fsck (cmd_device.cpp)
void register_mount_commands(CLI::App& app);  // mount, umount, logplay (cmd_mount.cpp)
void register_master_commands(CLI::App& app); // creat, cp, mkdir, verify, getmap, clone,
                                              // chkread, flush, status (cmd_master.cpp)

} // namespace famfs::cli
