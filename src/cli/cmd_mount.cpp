#include "cli/commands.hpp"

namespace famfs::cli {

void register_mount_commands(CLI::App& app) {
  (void)app;
}

} // namespace famfs::cli
