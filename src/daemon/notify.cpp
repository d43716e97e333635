#include "daemon/notify.hpp"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "daemon/daemon.hpp"

namespace famfs::daemon {

std::string status_text(const ServiceState& s) {
  std::string t = s.role + ": " + std::to_string(s.entries_used) + "/" +
                  std::to_string(s.entries_total) + " log entries used, replay lag ";
  t += s.replay_lag_ms < 0 ? std::string("n/a") : std::to_string(s.replay_lag_ms) + " ms";
  if (s.damaged)
    t += "; LOG DAMAGED at entry " + std::to_string(s.damage_index) + " (run famfs fsck)";
  return t;
}

ServiceNotifier::ServiceNotifier() {
  const char* sock = std::getenv("NOTIFY_SOCKET");
  enabled_ = sock && *sock;
  uint64_t usec = 0;
  if (enabled_ && sd_watchdog_enabled(0, &usec) > 0) watchdog_ = std::chrono::microseconds(usec);
}

void ServiceNotifier::send(const std::string& msg) {
  int r = sd_notify(0, msg.c_str());
  if (r < 0) spdlog::warn("sd_notify: {}", std::strerror(-r));
}

void ServiceNotifier::ready(const ServiceState& s) {
  if (!enabled_) return;
  std::lock_guard lk(mu_);
  if (ready_) return;
  ready_ = true;
  sent_status_ = status_text(s);
  last_status_ = last_watchdog_ = Clock::now();
  send("READY=1\nSTATUS=" + sent_status_ + (watchdog_.count() ? "\nWATCHDOG=1" : ""));
}

void ServiceNotifier::poll(const ServiceState& s) {
  if (!enabled_) return;
  std::lock_guard lk(mu_);
  if (!ready_ || stopping_) return;
  auto now = Clock::now();
  if (watchdog_.count() && now - last_watchdog_ >= watchdog_ / 2) {
    last_watchdog_ = now;
    send("WATCHDOG=1");
  }
  if (now - last_status_ < std::chrono::milliseconds(1000 / kStatusPerSecond)) return;
  std::string t = status_text(s);
  if (t == sent_status_) return;
  sent_status_ = std::move(t);
  last_status_ = now;
  send("STATUS=" + sent_status_);
}

void ServiceNotifier::stopping() {
  if (!enabled_) return;
  std::lock_guard lk(mu_);
  if (stopping_) return;
  stopping_ = true;
  send("STOPPING=1\nSTATUS=" + (sent_status_.empty() ? std::string("stopping")
                                                      : sent_status_ + "; stopping"));
}

// The daemon's side (a member of Daemon, kept here with the notifications it feeds).
ServiceState Daemon::service_state() {
  ServiceState s;
  s.role = role_name(role_);
  s.entries_total = geo_.slots();
  s.entries_used = std::min(replayer_->log_next_index(), s.entries_total);
  s.replay_lag_ms = replay_lag_ms_.load();
  std::lock_guard sl(status_mu_);
  if (damage_) {
    s.damaged = true;
    s.damage_index = damage_->index;
  }
  return s;
}

} // namespace famfs::daemon
