// How requests reach famfs-fused: /dev/fuse (libfuse's loop) or FUSE-over-io_uring
// (uring.hpp). The ring is set up while INIT is answered and asked for only once it exists,
// so a mount never waits for a ring that cannot come (the kernel holds every request from
// the INIT reply until all queues registered, or until a REGISTER fails).
#include "daemon/daemon.hpp"

#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "daemon/uring_wire.hpp"
#include "meta/error.hpp"

namespace famfs::daemon {

bool Daemon::prepare_ring(uint32_t init_flags, uint32_t max_write, uint16_t max_pages) {
  if (opt_.transport == Transport::Dev) return false;
  if (!kernel_offers_uring_) {
    const std::string why = uring_unavailable_reason();
    if (opt_.transport == Transport::Uring)
      spdlog::warn("transport=uring: the kernel does not offer FUSE-over-io_uring: {}; "
                   "requests go through /dev/fuse", why);
    else
      spdlog::info("transport=auto: FUSE-over-io_uring not offered ({}); requests go through "
                   "/dev/fuse", why);
    return false;
  }
  // The kernel's largest payload: max(FUSE_MIN_READ_BUFFER, max_write, max_pages pages).
  const size_t pages = (init_flags & wire::kInitMaxPages) ? std::max<size_t>(max_pages, 1)
                                                          : wire::kDefaultMaxPages;
  const size_t payload = std::max({wire::kMinReadBuffer, size_t(max_write),
                                   pages * size_t(::sysconf(_SC_PAGESIZE))});
  try {
    uring_ = std::make_unique<UringTransport>(se_, fuse_session_fd(se_), payload, kUringDepth);
  } catch (const Error& e) {
    spdlog::warn("{}; requests go through /dev/fuse", e.what());
    uring_.reset();
    return false;
  }
  spdlog::info("FUSE transport: io_uring, {} queues of {} entries, {} KiB payload each",
               uring_->queues(), kUringDepth, uring_->payload() >> 10);
  return true;
}

void Daemon::start_ring() {
  if (uring_) uring_->start();
}

void Daemon::stop_ring() {
  if (uring_) uring_->stop();
}

std::string Daemon::transport_in_use() const {
  return uring_ && !uring_->refused() ? "uring" : "dev";
}

} // namespace famfs::daemon
