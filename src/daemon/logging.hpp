// famfs-fused's log: where it goes (stderr, a file, the journal, syslog), with which priority,
// at which level, and the SIGUSR1/SIGUSR2 level steps. docs/daemon.md, famfs-fused(8).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace famfs::daemon {

struct Options;

// -o loglevel=: "error", "warn", "info", "debug" or "trace" (spdlog's level numbers).
std::optional<int> parse_log_level(std::string_view name);
// -o log=: "journal" or "syslog" (default: stderr with -f, else syslog).
bool valid_log_target(std::string_view name);

// syslog/journal priority (<N> prefix) of an spdlog level.
int syslog_priority(int spdlog_level);

// Before daemonizing: stderr (with <N> priority prefixes when stderr is the journal:
// JOURNAL_STREAM), the journal (-o log=journal), plus the log file if any. Installs the
// SIGUSR1 (more verbose) / SIGUSR2 (less verbose) handlers.
void setup_logging(const Options& opt);
// After fuse_daemonize() stderr is /dev/null: the log file, else the journal or syslog.
void set_logging_after_daemonize(const Options& opt);

} // namespace famfs::daemon
