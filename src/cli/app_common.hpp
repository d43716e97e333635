// CLI11 conventions shared by famfs and mkfs.famfs: value-type names in help, usage errors,
// --version.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace famfs::cli {

// Every usage error (unknown option, missing or malformed argument, options that exclude each
// other) exits with this status, as upstream's CLI does for its own usage checks.
inline constexpr int kExitUsage = 1;

// Name the value of every option of `app` (and of its subcommands) by what it holds (SIZE, N,
// MODE, UID, PATH, ...) instead of CLI11's TEXT/UINT. One table, in app_common.cpp.
void name_value_types(CLI::App& app);

// "<who>: <what>; try '<who> --help'" on stderr; returns kExitUsage.
int usage_error(const std::string& who, const std::string& what);

// --version on `app`: prints famfs::version_text(prog) and exits 0.
void add_version_flag(CLI::App& app, const std::string& prog);

} // namespace famfs::cli
