// systemd service notifications for famfs-fused (sd_notify(3), libsystemd): what a
// Type=notify unit needs to know and what `systemctl status` shows. docs/daemon.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace famfs::daemon {

// The mount's state in one line (STATUS=).
struct ServiceState {
  std::string role;
  uint64_t entries_used = 0, entries_total = 0;
  int64_t replay_lag_ms = -1; // -1: no replay has applied entries yet
  bool damaged = false;
  uint64_t damage_index = 0;
};
std::string status_text(const ServiceState& s);

// READY=1 once the mount serves the replayed log, STATUS= when the state changes (at most
// kStatusPerSecond times a second), WATCHDOG=1 every half WatchdogSec= when the unit sets one,
// STOPPING=1 at shutdown. Does nothing when systemd did not start the daemon (no
// NOTIFY_SOCKET). Thread-safe: the FUSE thread answering INIT, the poller and the main thread
// call it.
class ServiceNotifier {
 public:
  static constexpr int kStatusPerSecond = 4;

  ServiceNotifier(); // reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID (sd_watchdog_enabled)
  bool enabled() const { return enabled_; }
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }

  void ready(const ServiceState& s);
  void poll(const ServiceState& s); // from the poller, after each poll
  void stopping();

 private:
  using Clock = std::chrono::steady_clock;
  void send(const std::string& msg); // caller holds mu_

  bool enabled_ = false;
  std::chrono::microseconds watchdog_{0};
  std::mutex mu_;
  bool ready_ = false, stopping_ = false;
  std::string sent_status_;
  Clock::time_point last_status_{}, last_watchdog_{};
};

} // namespace famfs::daemon
