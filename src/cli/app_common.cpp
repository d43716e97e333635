#include "cli/app_common.hpp"

#include <cstdio>
#include <string_view>

#include "proto/version.hpp"

namespace famfs::cli {

namespace {

struct ValueType {
  std::string_view command; // empty: any command
  std::string_view option;  // first long name, or the positional's name
  const char* type;
};

// Sizes take N, 0xN or N[kmg]; modes are octal; counts are decimal.
constexpr ValueType kValueTypes[] = {
    {"creat", "multi", "FILE,SIZE[,SEED]"},
    {"verify", "multi", "FILE,SEED"},
    {"", "size", "SIZE"},
    {"", "chunksize", "SIZE"},
    {"", "loglen", "SIZE"},
    {"", "seed", "N"},
    {"", "threadct", "N"},
    {"", "nstrips", "N"},
    {"", "nbuckets", "N"},
    {"", "threads", "N"},
    {"", "refresh-ms", "MS"},
    {"", "timeout", "SECONDS"},
    {"", "mode", "MODE"},
    {"", "uid", "UID"},
    {"", "gid", "GID"},
    {"", "cache", "always|normal|never"},
    {"", "options", "ro|rw[,...]"},
    {"", "daxdev", "DEVICE"},
    {"", "device", "DEVICE"},
    {"", "filename", "PATH"},
    {"", "system-uuid-file", "PATH"},
    {"", "log-file", "PATH"},
    {"", "shadow", "PATH"},
    {"", "file", "PATH"},
    {"", "dir", "PATH"},
    {"", "src", "PATH"},
    {"", "dst", "PATH"},
    {"", "args", "PATH"},
    {"", "mountpoint", "PATH"},
    {"", "target", "PATH"},
};

const char* value_type(std::string_view command, std::string_view option) {
  for (const ValueType& v : kValueTypes)
    if ((v.command.empty() || v.command == command) && v.option == option) return v.type;
  return nullptr;
}

void name_options(CLI::App& app, std::string_view command) {
  for (CLI::Option* opt : app.get_options()) {
    if (opt->get_type_size() == 0) continue; // a flag
    const auto& lnames = opt->get_lnames();
    const std::string key = lnames.empty() ? opt->get_name() : lnames.front();
    if (const char* t = value_type(command, key)) opt->type_name(t);
  }
}

} // namespace

void name_value_types(CLI::App& app) {
  name_options(app, "");
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    name_options(*sub, sub->get_name());
}

int usage_error(const std::string& who, const std::string& what) {
  std::fprintf(stderr, "%s: %s; try '%s --help'\n", who.c_str(), what.c_str(), who.c_str());
  return kExitUsage;
}

void add_version_flag(CLI::App& app, const std::string& prog) {
  app.set_version_flag("--version", version_text(prog), "Print the version and exit");
}

} // namespace famfs::cli
