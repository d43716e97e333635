// famfs: the command-line front end. Exit codes follow upstream (spec B§10): a missing command
// exits 1, an unknown command 3, help 0, and every subcommand min(|rc|, 127).
#include <cstdio>
#include <cstdlib>
#include <map>

#include "cli/commands.hpp"

namespace famfs::cli {

namespace {
std::map<const CLI::App*, Action>& actions() {
  static std::map<const CLI::App*, Action> a;
  return a;
}
} // namespace

CLI::App* add_command(CLI::App& app, const std::string& name, const std::string& help,
                      Action action) {
  CLI::App* cmd = app.add_subcommand(name, help);
  cmd->set_help_flag("-?,--help", "Print this help and exit");
  actions()[cmd] = std::move(action);
  return cmd;
}

int exit_status(int rc) {
  if (rc < 0) rc = -rc;
  return rc > 127 ? 127 : rc;
}

void add_identity_option(CLI::App* cmd, std::string& path) {
  cmd->add_option("--system-uuid-file", path,
                  "Host identity file (default $FAMFS_SYSTEM_UUID_FILE or /opt/famfs/system_uuid)");
}

} // namespace famfs::cli

int main(int argc, char** argv) {
  using namespace famfs::cli;
  CLI::App app{"famfs: a shared-memory file system for CXL and fabric-attached memory", "famfs"};
  app.set_help_flag("-h,-?,--help", "Print this help and exit");
  bool dryrun = false; // upstream accepts it and does nothing; so do we
  app.add_flag("--dryrun", dryrun, "Accepted for compatibility; does nothing");
  app.require_subcommand(0, 1);
  app.fallthrough(false);

  register_device_commands(app);
  register_mount_commands(app);
  register_master_commands(app);

  if (argc < 2) {
    std::fprintf(stderr, "famfs: no command given\n%s", app.help().c_str());
    return 1;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError& e) {
    // An unknown first word is an unknown command (upstream exits 3).
    if (app.get_subcommands().empty()) {
      std::fprintf(stderr, "famfs: unknown command '%s'; run 'famfs --help' for the list\n",
                   argv[1]);
      return 3;
    }
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  for (const CLI::App* sub : app.get_subcommands()) {
    auto it = actions().find(sub);
    if (it != actions().end()) return exit_status(it->second());
  }
  std::fprintf(stderr, "famfs: no command given; run 'famfs --help' for the list\n");
  return 1;
}
