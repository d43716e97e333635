// famfs: the command-line front end. Exit codes follow upstream (spec B§10): a missing command
// exits 1, an unknown command 3, help and --version 0, a usage error kExitUsage (1), and every
// subcommand min(|rc|, 127).
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "cli/app_common.hpp"
#include "cli/commands.hpp"
#include "cli/util.hpp"
#include "meta/error.hpp"

namespace famfs::cli {

CLI::App* Commands::add(const std::string& name, const std::string& help, Action action) {
  CLI::App* cmd = app_.add_subcommand(name, help);
  cmd->set_help_flag("-h,-?,--help", "Print this help and exit");
  const std::string prog = "famfs " + name;
  actions_[cmd] = [prog, action = std::move(action)]() -> int {
    try {
      return action();
    } catch (const Error& e) {
      print_error(prog, e.what());
    } catch (const std::exception& e) {
      print_error(prog, std::string("unexpected failure: ") + e.what());
    }
    return 1;
  };
  return cmd;
}

std::optional<int> Commands::run_selected() const {
  for (const CLI::App* sub : app_.get_subcommands()) {
    auto it = actions_.find(sub);
    if (it != actions_.end()) return it->second();
  }
  return std::nullopt;
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
  add_version_flag(app, "famfs");
  bool dryrun = false; // upstream accepts it and does nothing; so do we
  app.add_flag("--dryrun", dryrun, "Accepted for compatibility; does nothing");
  app.require_subcommand(0, 1);
  app.fallthrough(false);

  Commands cmds(app);
  register_device_commands(cmds);
  register_mount_commands(cmds);
  register_master_commands(cmds);
  name_value_types(app);

  if (argc < 2) {
    std::fprintf(stderr, "famfs: no command given\n%s", app.help().c_str());
    return 1;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e); // --help, --version
    const auto subs = app.get_subcommands();
    // An unknown first word is an unknown command (upstream exits 3).
    if (subs.empty() && dynamic_cast<const CLI::ExtrasError*>(&e) && argv[1][0] != '-') {
      std::fprintf(stderr, "famfs: unknown command '%s'; run 'famfs --help' for the list\n",
                   argv[1]);
      return 3;
    }
    return usage_error(subs.empty() ? "famfs" : "famfs " + subs.front()->get_name(), e.what());
  }
  if (auto rc = cmds.run_selected()) return exit_status(*rc);
  std::fprintf(stderr, "famfs: no command given; run 'famfs --help' for the list\n");
  return 1;
}
