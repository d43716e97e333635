// INIT and the wire-level negotiation. libfuse 3.14 cannot express FUSE_DIRECT_IO_ALLOW_MMAP
// or FOPEN_PARALLEL_DIRECT_WRITES, so the daemon reads /dev/fuse itself
// (fuse_session_custom_io): io_read notes what the kernel's INIT offers, io_writev amends the
// INIT reply and the OPEN replies a handler asked for. Layouts: wire.hpp.
#include "daemon/daemon.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "daemon/uring_wire.hpp"
#include "daemon/wire.hpp"

namespace famfs::daemon {

namespace {

// The INIT reply is small (header + fuse_init_out): it is amended in a copy this big.
constexpr std::size_t kInitReplyMax = 512;
// Coarsest timestamps the kernel may assume (ns): famfs stores none.
constexpr uint32_t kTimeGranularityNs = 1000000000;

// Open flags to add to the next reply this thread writes (an OPEN reply: each libfuse worker
// answers the request it read, from its own thread, before reading the next).
thread_local uint32_t t_open_flags_to_add = 0;

} // namespace

void Daemon::add_parallel_direct_writes() {
  if (kernel_minor_ >= wire::kMinorParallelDirectWrites)
    t_open_flags_to_add = wire::kOpenParallelDirectWrites;
}

void Daemon::op_init(struct fuse_conn_info* conn) {
  kernel_minor_ = conn->proto_minor;
  conn->want &= ~(FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_POSIX_LOCKS | FUSE_CAP_ATOMIC_O_TRUNC |
                  FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
                  FUSE_CAP_WRITEBACK_CACHE);
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  // A cached listing is checked against the directory's mtime at each opendir (ops.cpp).
  if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA) conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
  conn->max_write = kMaxIo;
  conn->max_readahead = std::min<unsigned>(conn->max_readahead, kMaxIo);
  conn->time_gran = kTimeGranularityNs;
  // Direct I/O for file data needs FUSE_DIRECT_IO_ALLOW_MMAP (7.39) for shared mmap to work.
  const bool dio = opt_.direct_io && kernel_minor_ >= wire::kMinorDirectIoAllowMmap &&
                   kernel_offers_allow_mmap_;
  use_direct_io_ = dio;
  spdlog::info("FUSE protocol 7.{}: file data via {}{}", kernel_minor_,
               dio ? "direct I/O (with DIRECT_IO_ALLOW_MMAP)" : "the page cache",
               (!dio && opt_.direct_io) ? " (kernel cannot mmap direct-I/O files)" : "");
}

ssize_t Daemon::io_read(int fd, void* buf, size_t len) {
  const ssize_t r = ::read(fd, buf, len);
  if (r < ssize_t(sizeof(wire::InHeader) + wire::kInitInMinSize) || initialized_) return r;
  wire::InHeader h;
  std::memcpy(&h, buf, sizeof h);
  if (h.opcode != wire::kOpInit) return r;
  const int e = errno;
  wire::InitIn in{};
  std::memcpy(&in, static_cast<char*>(buf) + sizeof h,
              std::min<size_t>(sizeof in, size_t(r) - sizeof h));
  kernel_offers_allow_mmap_ = in.minor >= wire::kMinorDirectIoAllowMmap &&
                              (in.flags & wire::kInitExt) &&
                              (in.flags2 & wire::kFlags2DirectIoAllowMmap);
  kernel_offers_uring_ = (in.flags & wire::kInitExt) && (in.flags2 & wire::kFlags2OverIoUring);
  init_unique_ = h.unique;
  errno = e;
  return r;
}

ssize_t Daemon::io_writev(int fd, struct iovec* iov, int count) {
  if (const uint32_t add = t_open_flags_to_add) {
    t_open_flags_to_add = 0;
    return write_open_reply(fd, iov, count, add);
  }
  if (ssize_t n; UringTransport::capture_reply(iov, count, &n)) return n; // a ring request's
  const uint64_t iu = init_unique_.load();
  if (!iu || count < 1 || iov[0].iov_len < sizeof(wire::OutHeader))
    return ::writev(fd, iov, count);
  wire::OutHeader oh;
  std::memcpy(&oh, iov[0].iov_base, sizeof oh);
  if (oh.unique != iu) return ::writev(fd, iov, count);

  // The reply to INIT.
  init_unique_ = 0;
  char buf[kInitReplyMax];
  size_t total = 0;
  bool fits = true;
  for (int i = 0; i < count && fits; ++i) {
    fits = total + iov[i].iov_len <= sizeof buf;
    if (fits) {
      std::memcpy(buf + total, iov[i].iov_base, iov[i].iov_len);
      total += iov[i].iov_len;
    }
  }
  ssize_t r;
  if (fits) {
    if (oh.error == 0 && total >= sizeof(wire::OutHeader) + sizeof(wire::InitOut)) {
      wire::InitOut io;
      std::memcpy(&io, buf + sizeof oh, sizeof io);
      if (use_direct_io_) {
        io.flags |= wire::kInitExt;
        io.flags2 |= wire::kFlags2DirectIoAllowMmap;
        allow_mmap_negotiated_ = true;
      }
      if (prepare_ring(io.flags, io.max_write, io.max_pages)) {
        io.flags |= wire::kInitExt;
        io.flags2 |= wire::kFlags2OverIoUring;
      }
      std::memcpy(buf + sizeof oh, &io, sizeof io);
    }
    r = ::write(fd, buf, total);
  } else {
    r = ::writev(fd, iov, count);
  }
  const int e = errno;
  if (oh.error == 0 && r >= 0) {
    if (!use_direct_io_ || !allow_mmap_negotiated_) use_direct_io_ = false;
    initialized_ = true;
    start_ring();
    mount_ready();
  } else {
    uring_.reset(); // INIT failed: no ring requests will come
  }
  errno = e;
  return r;
}

// An OPEN reply (header, fuse_open_out) with `add` ORed into its open flags; any other
// reply (an error) goes out as it is.
ssize_t Daemon::write_open_reply(int fd, struct iovec* iov, int count, uint32_t add) {
  // A ring request's reply is committed to its entry; any other goes to /dev/fuse.
  auto send = [fd](struct iovec* v, int n) -> ssize_t {
    if (ssize_t w; UringTransport::capture_reply(v, n, &w)) return w;
    return ::writev(fd, v, n);
  };
  wire::OutHeader oh;
  wire::OpenOut out;
  if (count != 2 || iov[0].iov_len != sizeof oh || iov[1].iov_len != sizeof out)
    return send(iov, count);
  std::memcpy(&oh, iov[0].iov_base, sizeof oh);
  if (oh.error != 0) return send(iov, count);
  std::memcpy(&out, iov[1].iov_base, sizeof out);
  out.open_flags |= add;
  struct iovec v[2] = {iov[0], {&out, sizeof out}};
  return send(v, 2);
}

} // namespace famfs::daemon
