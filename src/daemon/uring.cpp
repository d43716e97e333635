// FUSE-over-io_uring (uring.hpp): the queues, their threads, and the request/reply path
// through libfuse's dispatcher. Layouts: uring_wire.hpp.
#include "daemon/uring.hpp"

#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <spdlog/spdlog.h>

#include "daemon/uring_wire.hpp"
#include "meta/error.hpp"
#include "proto/unique_fd.hpp"

namespace famfs::daemon {

namespace {

constexpr const char* kEnableUringParam = "/sys/module/fuse/parameters/enable_uring";
constexpr const char* kPossibleCpus = "/sys/devices/system/cpu/possible";
constexpr uint64_t kStopTag = 0; // user_data of the stop poll (entries use their address)

// The entry a queue thread is serving (its reply comes back through the session's writev on
// the same thread).
thread_local UringTransport::Entry* tl_serving = nullptr;

// Number of queues the kernel makes: one per possible CPU (qid = CPU number).
unsigned possible_cpus() {
  std::ifstream f(kPossibleCpus);
  std::string s;
  unsigned highest = 0;
  bool any = false;
  if (f && std::getline(f, s)) {
    // "0-1" or "0,2-5": the highest number ends the last range.
    const size_t cut = s.find_last_of(",-");
    const std::string last = cut == std::string::npos ? s : s.substr(cut + 1);
    char* end = nullptr;
    const unsigned long v = std::strtoul(last.c_str(), &end, 10);
    any = end != last.c_str();
    highest = unsigned(v);
  }
  return any ? highest + 1 : unsigned(std::max(1, get_nprocs_conf()));
}

size_t page_size() { return size_t(::sysconf(_SC_PAGESIZE)); }

size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

// Anonymous memory of one queue's entries (move-only, unmapped when dropped).
class AnonMemory {
 public:
  AnonMemory() = default;
  explicit AnonMemory(size_t len) : len_(len) {
    void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      throw Error(e, "io_uring transport: cannot allocate " + std::to_string(len >> 10) +
                         " KiB of ring buffers: " + std::strerror(e));
    }
    p_ = static_cast<std::byte*>(p);
  }
  ~AnonMemory() {
    if (p_) ::munmap(p_, len_);
  }
  AnonMemory(AnonMemory&& o) noexcept : p_(std::exchange(o.p_, nullptr)), len_(o.len_) {}
  AnonMemory& operator=(AnonMemory&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(len_, o.len_);
    return *this;
  }
  std::byte* data() const { return p_; }

 private:
  std::byte* p_ = nullptr;
  size_t len_ = 0;
};

} // namespace

// One ring entry. Its memory: the header buffer (fuse_uring_req_header) at the start of a
// lead page, the payload right after that page. A request is rebuilt as /dev/fuse would
// deliver it (in header, first argument, payload) just before the payload, so the payload
// (write data) is handed to libfuse where the kernel put it.
struct UringTransport::Entry {
  wire::UringReqHeader* hdr = nullptr;
  std::byte* payload = nullptr;
  size_t payload_len = 0;
  struct iovec iov[wire::kUringIovSegs] = {};
  uint64_t commit_id = 0;
  uint64_t unique = 0;     // of the request being served
  bool replied = false;
  uint32_t last_cmd = 0;
};

struct UringTransport::Queue {
  unsigned qid = 0;
  struct io_uring ring {};
  bool ring_ok = false;
  AnonMemory mem;
  std::vector<Entry> ents;
  proto::UniqueFd stop_fd;
  std::thread th;
  std::atomic<uint64_t> served{0};
  unsigned held = 0;       // entries the kernel holds (registered, not released)

  ~Queue() {
    if (ring_ok) io_uring_queue_exit(&ring);
  }
};

// The lead page holds the header buffer and, at its end, the rebuilt in header + first arg.
static_assert(sizeof(wire::UringReqHeader) + sizeof(wire::InHeader) + wire::kUringOpInOutSize <=
              4096);

std::optional<Transport> parse_transport(std::string_view v) {
  if (v == "dev") return Transport::Dev;
  if (v == "uring") return Transport::Uring;
  if (v == "auto") return Transport::Auto;
  return std::nullopt;
}

const char* transport_name(Transport t) {
  switch (t) {
    case Transport::Dev: return "dev";
    case Transport::Uring: return "uring";
    case Transport::Auto: return "auto";
  }
  return "?";
}

std::string uring_unavailable_reason() {
  std::ifstream f(kEnableUringParam);
  char c = 0;
  if (!f || !(f >> c))
    return "this kernel has no FUSE-over-io_uring (it needs Linux 6.14+ built with "
           "CONFIG_FUSE_IO_URING)";
  if (c == 'N' || c == '0')
    return std::string("the fuse module parameter enable_uring is off (") + kEnableUringParam +
           " is N; as root: echo Y > " + kEnableUringParam +
           ", or 'options fuse enable_uring=1' in /etc/modprobe.d/fuse.conf, then remount)";
  return "the kernel did not offer it in INIT (enable_uring was off when this mount was made)";
}

UringTransport::UringTransport(struct fuse_session* se, int fuse_fd, size_t payload,
                               unsigned depth)
    : se_(se), payload_(round_up(std::max(payload, wire::kMinReadBuffer), page_size())) {
  const size_t lead = page_size();
  const size_t stride = lead + payload_;
  const unsigned nq = possible_cpus();
  for (unsigned qid = 0; qid < nq; ++qid) {
    auto q = std::make_unique<Queue>();
    q->qid = qid;
    struct io_uring_params p {};
    p.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE;
    p.cq_entries = 2 * (depth + 1);
    if (int rc = io_uring_queue_init_params(depth + 1, &q->ring, &p); rc < 0)
      throw Error(-rc, "io_uring transport: io_uring_queue_init (queue " + std::to_string(qid) +
                           "): " + std::strerror(-rc) +
                           " (is io_uring disabled by the kernel.io_uring_disabled sysctl?)");
    q->ring_ok = true;
    if (int rc = io_uring_register_files(&q->ring, &fuse_fd, 1); rc < 0)
      throw Error(-rc, "io_uring transport: cannot register /dev/fuse with the ring: " +
                           std::string(std::strerror(-rc)));
    q->stop_fd.reset(::eventfd(0, EFD_CLOEXEC));
    if (!q->stop_fd) {
      const int e = errno;
      throw Error(e, "io_uring transport: eventfd: " + std::string(std::strerror(e)));
    }
    q->mem = AnonMemory(stride * depth);
    q->ents.resize(depth);
    for (unsigned i = 0; i < depth; ++i) {
      Entry& e = q->ents[i];
      std::byte* base = q->mem.data() + size_t(i) * stride;
      e.hdr = reinterpret_cast<wire::UringReqHeader*>(base);
      e.payload = base + lead;
      e.payload_len = payload_;
      e.iov[0] = {e.hdr, sizeof(wire::UringReqHeader)};
      e.iov[1] = {e.payload, payload_};
    }
    queues_.push_back(std::move(q));
  }
}

UringTransport::~UringTransport() { stop(); }

void UringTransport::start() {
  // The queue threads must not take the termination signals meant for the main thread (as
  // libfuse's workers). SIGBUS stays open: the device guard handles it on any thread.
  sigset_t set, old;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  for (auto& q : queues_) {
    Queue* qp = q.get();
    q->th = std::thread([this, qp] { serve(*qp); });
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void UringTransport::stop() {
  for (auto& q : queues_) {
    if (!q->th.joinable()) continue;
    const uint64_t one = 1;
    (void)!::write(q->stop_fd.get(), &one, sizeof one);
    q->th.join();
  }
}

uint64_t UringTransport::requests() const {
  uint64_t n = 0;
  for (const auto& q : queues_) n += q->served.load(std::memory_order_relaxed);
  return n;
}

namespace {

struct io_uring_sqe* next_sqe(struct io_uring* ring) {
  struct io_uring_sqe* sqe;
  // The ring has one SQE per entry and one for the stop poll, so this does not loop; a
  // submit would empty the queue if it did.
  while (!(sqe = io_uring_get_sqe(ring))) io_uring_submit(ring);
  return sqe;
}

// REGISTER or COMMIT_AND_FETCH of one entry.
void prep_cmd(struct io_uring* ring, unsigned qid, UringTransport::Entry& e, uint32_t cmd,
              const struct iovec* iov, uint64_t commit_id) {
  struct io_uring_sqe* sqe = next_sqe(ring);
  // An SQE128 slot is two struct io_uring_sqe; the command area starts at sqe->cmd.
  auto* slot = reinterpret_cast<unsigned char*>(sqe);
  std::memset(slot, 0, wire::kSqe128Size);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->flags = IOSQE_FIXED_FILE;
  sqe->fd = 0; // index of /dev/fuse among the ring's registered files
  sqe->cmd_op = cmd;
  if (iov) {
    sqe->addr = reinterpret_cast<uint64_t>(iov);
    sqe->len = wire::kUringIovSegs;
  }
  wire::UringCmdReq r{};
  r.commit_id = commit_id;
  r.qid = uint16_t(qid);
  std::memcpy(slot + offsetof(struct io_uring_sqe, cmd), &r, sizeof r);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(&e));
  e.last_cmd = cmd;
}

void prep_register(UringTransport::Queue& q, UringTransport::Entry& e) {
  prep_cmd(&q.ring, q.qid, e, wire::kUringCmdRegister, e.iov, 0);
  ++q.held;
}

void pin_to_cpu(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  // A queue of a CPU that is not online serves unpinned: nothing runs there to use it.
  if (int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set); rc != 0)
    spdlog::debug("io_uring queue {}: not pinned to its CPU: {}", cpu, std::strerror(rc));
}

} // namespace

// A queue thread: register the entries, then serve completions until stopped or the kernel
// released every entry (unmount).
void UringTransport::serve(Queue& q) {
  pin_to_cpu(q.qid);
  for (Entry& e : q.ents) prep_register(q, e);
  struct io_uring_sqe* sqe = next_sqe(&q.ring);
  io_uring_prep_poll_add(sqe, q.stop_fd.get(), POLLIN);
  io_uring_sqe_set_data64(sqe, kStopTag);
  bool running = true;
  while (running && q.held > 0) {
    const int rc = io_uring_submit_and_wait(&q.ring, 1);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      spdlog::error("io_uring queue {}: {}; the queue stops", q.qid, std::strerror(-rc));
      break;
    }
    struct io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&q.ring, head, cqe) {
      ++seen;
      if (!on_completion(q, cqe->user_data, cqe->res)) running = false;
    }
    io_uring_cq_advance(&q.ring, seen);
  }
  io_uring_submit(&q.ring); // the last commits (an unmount releases them anyway)
}

// One completion; false when the queue is to stop.
bool UringTransport::on_completion(Queue& q, uint64_t user_data, int res) {
  if (user_data == kStopTag) return false;
  Entry& e = *reinterpret_cast<Entry*>(user_data);
  if (res == 0) {
    process(q, e);
    prep_cmd(&q.ring, q.qid, e, wire::kUringCmdCommitAndFetch, nullptr, e.commit_id);
    return true;
  }
  if (res == -EAGAIN || res == -EINTR) { // try the same command again
    if (e.last_cmd == wire::kUringCmdRegister)
      prep_cmd(&q.ring, q.qid, e, e.last_cmd, e.iov, 0);
    else
      prep_cmd(&q.ring, q.qid, e, e.last_cmd, nullptr, e.commit_id);
    return true;
  }
  --q.held;
  if (res == -ENOTCONN || res == -ECONNABORTED || res == -ECANCELED) return true; // unmount
  if (e.last_cmd == wire::kUringCmdRegister) {
    refused_by_kernel(q, -res);
    return true;
  }
  // A commit the kernel did not take (its request is gone): the entry is given back to the
  // queue with a new REGISTER, so the queue keeps its depth.
  spdlog::warn("io_uring queue {}: COMMIT_AND_FETCH of request {}: {}; entry registered again",
               q.qid, e.commit_id, std::strerror(-res));
  prep_register(q, e);
  return true;
}

void UringTransport::refused_by_kernel(const Queue& q, int err) {
  if (refused_.exchange(true)) return;
  spdlog::warn("io_uring transport refused by the kernel: FUSE_IO_URING_CMD_REGISTER on queue "
               "{}: {} (errno {}; dmesg may say more); requests go through /dev/fuse",
               q.qid, std::strerror(err), err);
}

// The request in entry e: rebuilt as /dev/fuse would deliver it and dispatched by libfuse;
// the reply lands in the entry through capture_reply().
void UringTransport::process(Queue& q, Entry& e) {
  wire::InHeader in;
  std::memcpy(&in, e.hdr->in_out, sizeof in);
  const wire::UringEntInOut io = e.hdr->ring_ent_in_out;
  e.commit_id = io.commit_id;
  const size_t payload = io.payload_sz;
  // in.len counts the header, the first argument (in op_in) and the payload.
  if (payload > e.payload_len || in.len < sizeof in + payload ||
      in.len - sizeof in - payload > wire::kUringOpInOutSize) {
    spdlog::error("io_uring queue {}: malformed request {} (opcode {}, len {}, payload {}): "
                  "answered EIO", q.qid, in.unique, in.opcode, in.len, payload);
    return commit_error(e, in.unique, -EIO);
  }
  const size_t arg0 = in.len - sizeof in - payload;
  std::byte* start = e.payload - sizeof in - arg0;
  std::memcpy(start, &in, sizeof in);
  std::memcpy(start + sizeof in, e.hdr->op_in, arg0);
  e.unique = in.unique;
  e.replied = false;
  struct fuse_buf buf {};
  buf.size = in.len;
  buf.mem = start;
  tl_serving = &e;
  fuse_session_process_buf(se_, &buf);
  tl_serving = nullptr;
  q.served.fetch_add(1, std::memory_order_relaxed);
  if (!e.replied) {
    // Every famfs handler replies before it returns; a request without a reply would hold
    // the kernel's caller forever.
    if (!logged_unreplied_.exchange(true))
      spdlog::error("io_uring queue {}: request {} (opcode {}) returned without a reply: "
                    "answered EIO", q.qid, in.unique, in.opcode);
    commit_error(e, in.unique, -EIO);
  }
}

void UringTransport::commit_error(Entry& e, uint64_t unique, int err) {
  wire::OutHeader oh{};
  oh.len = sizeof oh;
  oh.error = err;
  oh.unique = unique;
  std::memcpy(e.hdr->in_out, &oh, sizeof oh);
  e.hdr->ring_ent_in_out.payload_sz = 0;
  e.replied = true;
}

bool UringTransport::capture_reply(const struct iovec* iov, int count, ssize_t* written) {
  Entry* e = tl_serving;
  if (!e || e->replied || count < 1 || iov[0].iov_len < sizeof(wire::OutHeader)) return false;
  wire::OutHeader oh;
  std::memcpy(&oh, iov[0].iov_base, sizeof oh);
  if (oh.unique != e->unique) return false; // not the reply to this entry's request
  size_t n = 0, total = 0;
  bool fits = true;
  for (int i = 0; i < count; ++i) {
    const size_t skip = i == 0 ? sizeof oh : 0;
    const size_t len = iov[i].iov_len - skip;
    total += iov[i].iov_len;
    if (!len || !fits) continue;
    fits = n + len <= e->payload_len;
    if (fits) std::memmove(e->payload + n, static_cast<const char*>(iov[i].iov_base) + skip, len);
    n += len;
  }
  if (!fits) {
    spdlog::error("io_uring: reply to request {} ({} bytes) exceeds the ring payload ({}): "
                  "answered EIO", oh.unique, n, e->payload_len);
    commit_error(*e, oh.unique, -EIO);
  } else {
    oh.len = uint32_t(sizeof oh + n);
    std::memcpy(e->hdr->in_out, &oh, sizeof oh);
    e->hdr->ring_ent_in_out.payload_sz = uint32_t(n);
    e->replied = true;
  }
  *written = ssize_t(total);
  return true;
}

} // namespace famfs::daemon
