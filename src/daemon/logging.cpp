#include "daemon/logging.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

#include "daemon/daemon.hpp"

namespace famfs::daemon {

namespace {

constexpr const char* kIdent = "famfs-fused";
constexpr const char* kJournalSocket = "/run/systemd/journal/socket";
constexpr const char* kSyslogSocket = "/dev/log";
// A file has its own timestamps and name; the journal and syslog add theirs.
constexpr const char* kFilePattern = "%Y-%m-%dT%H:%M:%S.%e famfs-fused[%P] %l: %v";

struct LevelName {
  std::string_view name;
  spdlog::level::level_enum level;
};
constexpr std::array<LevelName, 6> kLevels = {{{"error", spdlog::level::err},
                                               {"warn", spdlog::level::warn},
                                               {"warning", spdlog::level::warn},
                                               {"info", spdlog::level::info},
                                               {"debug", spdlog::level::debug},
                                               {"trace", spdlog::level::trace}}};

// stderr with the priority of each line as a <N> prefix, which journald reads (and strips) on
// a service's stdout/stderr stream (SyslogLevelPrefix=, on by default).
class PrioritizedStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::fprintf(stderr, "<%d>%.*s\n", syslog_priority(msg.level), int(msg.payload.size()),
                 msg.payload.data());
  }
  void flush_() override { std::fflush(stderr); }
};

// JOURNAL_STREAM ("DEV:INO") names the stream journald gave us: only if it is still our stderr.
bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js || !*js) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  return dev == static_cast<unsigned long long>(st.st_dev) &&
         ino == static_cast<unsigned long long>(st.st_ino);
}

bool socket_exists(const char* path) {
  struct stat st {};
  return ::stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

spdlog::level::level_enum initial_level(const Options& opt) {
  if (auto l = parse_log_level(opt.log_level)) return spdlog::level::level_enum(*l);
  return opt.debug ? spdlog::level::debug : spdlog::level::info;
}

// The journal if asked for and there, else syslog if there; nullptr (after saying so on
// stderr) when neither socket exists.
spdlog::sink_ptr system_log_sink(const Options& opt, bool warn_on_stderr) {
  bool journal = opt.log_target == "journal";
  if (journal && socket_exists(kJournalSocket))
    return std::make_shared<spdlog::sinks::systemd_sink_mt>(kIdent);
  if (!journal && socket_exists(kSyslogSocket))
    return std::make_shared<spdlog::sinks::syslog_sink_mt>(kIdent, LOG_PID, LOG_DAEMON, false);
  if (warn_on_stderr)
    std::fprintf(stderr,
                 "famfs-fused: warning: no %s socket (%s): %s; give -o log_file=PATH (famfs "
                 "mount --log-file)%s\n",
                 journal ? "journal" : "syslog", journal ? kJournalSocket : kSyslogSocket,
                 opt.foreground ? "logging to stderr instead"
                                : "the daemon's messages after start-up will be lost",
                 journal ? " or run systemd-journald" : " or run a syslog daemon");
  return nullptr;
}

void install(std::vector<spdlog::sink_ptr> sinks, spdlog::level::level_enum level) {
  auto lg = std::make_shared<spdlog::logger>(kIdent, sinks.begin(), sinks.end());
  lg->set_level(level);
  lg->flush_on(spdlog::level::info);
  spdlog::set_default_logger(lg);
}

// SIGUSR1: one step more verbose (down to trace); SIGUSR2: one step less (up to error). The
// logger's level is an atomic: storing it is all a signal handler may do.
void step_level(int sig) {
  spdlog::logger* lg = spdlog::default_logger_raw();
  int l = int(lg->level()) + (sig == SIGUSR1 ? -1 : 1);
  if (l < int(spdlog::level::trace)) l = int(spdlog::level::trace);
  if (l > int(spdlog::level::err)) l = int(spdlog::level::err);
  lg->set_level(spdlog::level::level_enum(l));
}

void install_level_signals() {
  struct sigaction sa {};
  sa.sa_handler = step_level;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGUSR1);
  sigaddset(&sa.sa_mask, SIGUSR2);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGUSR1, &sa, nullptr);
  ::sigaction(SIGUSR2, &sa, nullptr);
}

// The logger is replaced with the level signals held off (their handler uses it).
class LevelSignalsHeld {
 public:
  LevelSignalsHeld() {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGUSR2);
    ::pthread_sigmask(SIG_BLOCK, &s, &old_);
  }
  ~LevelSignalsHeld() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  LevelSignalsHeld(const LevelSignalsHeld&) = delete;
  LevelSignalsHeld& operator=(const LevelSignalsHeld&) = delete;

 private:
  sigset_t old_;
};

spdlog::sink_ptr file_sink(const Options& opt) {
  if (opt.log_file.empty()) return nullptr;
  try {
    auto s = std::make_shared<spdlog::sinks::basic_file_sink_mt>(opt.log_file);
    s->set_pattern(kFilePattern);
    return s;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "famfs-fused: cannot open log file %s: %s\n", opt.log_file.c_str(),
                 e.what());
    return nullptr;
  }
}

} // namespace

std::optional<int> parse_log_level(std::string_view name) {
  for (const LevelName& l : kLevels)
    if (l.name == name) return int(l.level);
  return std::nullopt;
}

bool valid_log_target(std::string_view name) { return name == "journal" || name == "syslog"; }

int syslog_priority(int level) {
  switch (spdlog::level::level_enum(level)) {
    case spdlog::level::trace:
    case spdlog::level::debug: return LOG_DEBUG;
    case spdlog::level::info: return LOG_INFO;
    case spdlog::level::warn: return LOG_WARNING;
    case spdlog::level::err: return LOG_ERR;
    default: return LOG_CRIT;
  }
}

void setup_logging(const Options& opt) {
  LevelSignalsHeld held;
  std::vector<spdlog::sink_ptr> sinks;
  spdlog::sink_ptr err_sink;
  if (!opt.log_target.empty() && opt.foreground) {
    if (auto s = system_log_sink(opt, true)) sinks.push_back(s);
  }
  if (sinks.empty()) {
    if (stderr_is_journal()) {
      err_sink = std::make_shared<PrioritizedStderrSink>();
    } else {
      err_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
      err_sink->set_pattern("famfs-fused: %v"); // what a user sees from 'famfs mount'
    }
    // Detaching later: until then the caller's terminal sees only what goes wrong.
    if (!opt.foreground && !opt.debug) err_sink->set_level(spdlog::level::warn);
    sinks.push_back(err_sink);
  }
  if (auto f = file_sink(opt)) sinks.push_back(f);
  // Tell now (while stderr is still the caller's) when the log after detaching has nowhere
  // to go.
  if (!opt.foreground && opt.log_file.empty()) (void)system_log_sink(opt, true);
  install(std::move(sinks), initial_level(opt));
  install_level_signals();
}

void set_logging_after_daemonize(const Options& opt) {
  LevelSignalsHeld held;
  std::vector<spdlog::sink_ptr> sinks;
  auto old = spdlog::default_logger();
  for (auto& s : old->sinks())
    if (std::dynamic_pointer_cast<spdlog::sinks::basic_file_sink_mt>(s)) sinks.push_back(s);
  if (sinks.empty())
    if (auto s = system_log_sink(opt, false)) sinks.push_back(s);
  install(std::move(sinks), old->level());
}

} // namespace famfs::daemon
