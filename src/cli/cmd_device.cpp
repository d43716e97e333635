#include "cli/commands.hpp"

namespace famfs::cli {

void register_device_commands(CLI::App& app) {
  (void)app;
}

} // namespace famfs::cli
