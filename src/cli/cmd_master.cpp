#include "cli/commands.hpp"

namespace famfs::cli {

void register_master_commands(CLI::App& app) {
  (void)app;
}

} // namespace famfs::cli
