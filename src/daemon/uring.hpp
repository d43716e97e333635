// FUSE-over-io_uring for famfs-fused (kernel 6.14+; libfuse 3.14 has no ring support).
//
// The daemon asks for the ring in its INIT reply (negotiate.cpp, FUSE_OVER_IO_URING) only
// after the rings below were set up, then registers one queue per possible CPU. Each queue
// is a thread with its own io_uring (SQE128) holding `depth` ring entries on the /dev/fuse
// fd; a completed entry is one kernel request: its header and payload are laid out as a
// /dev/fuse request in the entry's own buffer (no payload copy) and handed to libfuse's
// dispatcher (fuse_session_process_buf). The handler's reply arrives at the session's custom
// writev on the same thread, where capture_reply() copies it into the entry, which is then
// committed with COMMIT_AND_FETCH. FORGET, INTERRUPT and the daemon's notifications keep
// using /dev/fuse (the kernel sends only requests through the ring). docs/daemon.md.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace famfs::daemon {

// -o transport=: how requests reach the daemon.
enum class Transport {
  Dev,   // read/write on /dev/fuse (the default)
  Uring, // FUSE-over-io_uring; /dev/fuse (with a warning) when the kernel does not offer it
  Auto,  // the ring when the kernel offers it (enable_uring on), else /dev/fuse
};
std::optional<Transport> parse_transport(std::string_view v);
const char* transport_name(Transport t);
// Environment variable giving the default of -o transport= (the option wins).
inline constexpr const char* kTransportEnv = "FAMFS_TRANSPORT";

// Why the kernel did not offer the ring, for the log line (reads the fuse module parameter).
std::string uring_unavailable_reason();

// Entries per queue: one thread serves a queue, so more entries only let the kernel queue
// requests while one is being served.
inline constexpr unsigned kUringDepth = 4;

class UringTransport {
 public:
  // Sets up the rings and buffers of every queue (no kernel command yet). `payload` is the
  // kernel's largest request or reply payload (from the INIT reply). Throws famfs::Error.
  UringTransport(struct fuse_session* se, int fuse_fd, std::size_t payload, unsigned depth);
  ~UringTransport();
  UringTransport(const UringTransport&) = delete;
  UringTransport& operator=(const UringTransport&) = delete;

  // INIT was answered: start the queue threads (they register their entries and serve).
  void start();
  // Stop and join the queue threads (the kernel's entries are released with the rings).
  void stop();

  // From the session's writev: when the calling thread is a queue thread serving the request
  // this reply answers, copy the reply into its entry, set *written and return true.
  static bool capture_reply(const struct iovec* iov, int count, ssize_t* written);

  unsigned queues() const { return unsigned(queues_.size()); }
  std::size_t payload() const { return payload_; }
  bool refused() const { return refused_.load(); } // the kernel refused a REGISTER
  uint64_t requests() const;                       // requests served through the ring

  struct Entry;
  struct Queue;

 private:
  void serve(Queue& q);
  bool on_completion(Queue& q, uint64_t user_data, int res);
  void process(Queue& q, Entry& e);
  static void commit_error(Entry& e, uint64_t unique, int err);
  void refused_by_kernel(const Queue& q, int err);

  struct fuse_session* se_;
  std::size_t payload_;
  std::vector<std::unique_ptr<Queue>> queues_;
  std::atomic<bool> refused_{false};
  std::atomic<bool> logged_unreplied_{false};
};

} // namespace famfs::daemon
