// The control socket's server (control_socket.hpp, proto/control.hpp).
#include "daemon/control_socket.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "meta/error.hpp"
#include "meta/path.hpp"
#include "proto/control.hpp"

namespace famfs::daemon {

namespace pc = proto::control;

namespace {

constexpr mode_t kSocketMode = 0600;
constexpr int kListenBacklog = 16;

sockaddr_un address_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path)
    throw Error(ENAMETOOLONG, "control socket path " + path + " is too long for AF_UNIX");
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

std::optional<uid_t> peer_uid(int fd) {
  ucred cr{};
  socklen_t len = sizeof cr;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) return std::nullopt;
  return cr.uid;
}

pc::Reply failure(int err, std::string message) {
  pc::Reply r;
  r.err = err ? err : EIO;
  r.message = std::move(message);
  return r;
}

} // namespace

struct ControlServer::Client {
  proto::UniqueFd fd;
  pid_t pid = 0;
  uint64_t reserved = 0;          // log slots it holds
  std::vector<Fmap> outstanding;  // allocations no appended entry claims yet
};

ControlServer::ControlServer(const std::string& run_dir, Context ctx)
    : ctx_(std::move(ctx)), path_(pc::socket_path(run_dir, ctx_.fs_uuid)) {
  const sockaddr_un addr = address_of(path_);
  listen_fd_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!listen_fd_ || !stop_fd_)
    throw Error(errno, "cannot make the control socket " + path_ + ": " + std::strerror(errno));
  // A socket left by a daemon that died: ours now (we hold the writer lock).
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
    throw Error(errno, "cannot remove the old control socket " + path_ + ": " + std::strerror(errno));
  const mode_t old = ::umask(0177); // never reachable by others, not even between bind and chmod
  const int rc = ::bind(listen_fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int e = errno;
  ::umask(old);
  if (rc != 0) throw Error(e, "cannot bind the control socket " + path_ + ": " + std::strerror(e));
  if (::chmod(path_.c_str(), kSocketMode) != 0 || ::listen(listen_fd_.get(), kListenBacklog) != 0) {
    const int e2 = errno;
    ::unlink(path_.c_str());
    throw Error(e2, "cannot open the control socket " + path_ + ": " + std::strerror(e2));
  }
}

void ControlServer::start() {
  sigset_t set, old;
  sigfillset(&set);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  thread_ = std::thread([this] { serve(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

ControlServer::~ControlServer() {
  const uint64_t one = 1;
  (void)!::write(stop_fd_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  for (auto& c : clients_) drop(*c);
  clients_.clear();
  ::unlink(path_.c_str());
}

void ControlServer::serve() {
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({stop_fd_.get(), POLLIN, 0});
    fds.push_back({listen_fd_.get(), POLLIN, 0});
    for (auto& c : clients_) fds.push_back({c->fd.get(), POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("control socket {}: poll failed: {}; no more requests are served", path_,
                    std::strerror(errno));
      return;
    }
    if (fds[0].revents) return;
    // Clients first (indices match clients_ as polled), then new ones.
    std::vector<Client*> gone;
    for (size_t i = 0; i < clients_.size(); ++i)
      if (fds[i + 2].revents && !handle(*clients_[i])) gone.push_back(clients_[i].get());
    for (Client* c : gone) {
      drop(*c);
      clients_.erase(std::find_if(clients_.begin(), clients_.end(),
                                  [c](const auto& p) { return p.get() == c; }));
    }
    if (fds[1].revents & POLLIN) accept_client();
  }
}

void ControlServer::accept_client() {
  proto::UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd) return;
  ucred cr{};
  socklen_t len = sizeof cr;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || cr.uid != 0) {
    spdlog::warn("control socket {}: refused a peer that is not root (uid {})", path_,
                 peer_uid(fd.get()).value_or(uid_t(-1)));
    return;
  }
  if (clients_.size() >= pc::kMaxClients) {
    int err = 0;
    (void)pc::send_message(fd.get(), pc::encode(failure(EAGAIN,
        "the famfs daemon of " + ctx_.mountpoint + " serves " + std::to_string(pc::kMaxClients) +
        " famfs commands already; retry when some are done"), pc::Op::Hello), true, &err);
    return;
  }
  auto c = std::make_unique<Client>();
  c->fd = std::move(fd);
  c->pid = cr.pid;
  clients_.push_back(std::move(c));
}

// What a client held goes back (it died, or ended without appending what it allocated).
void ControlServer::drop(Client& c) {
  try {
    if (c.reserved) ctx_.writer.unreserve(c.reserved);
    for (const Fmap& f : c.outstanding) ctx_.writer.release(f);
  } catch (const std::exception& e) {
    spdlog::error("control socket {}: giving back what pid {} held: {}", path_, c.pid, e.what());
  }
  if (c.reserved || !c.outstanding.empty())
    spdlog::info("famfs command pid {} left: {} log slots and {} allocations given back", c.pid,
                 c.reserved, c.outstanding.size());
  c.reserved = 0;
  c.outstanding.clear();
  c.fd.reset();
}

namespace {

pc::Reply lookup(master::Writer& w, const pc::Request& q) {
  if (!q.path.empty() && normalise_relpath(q.path) != q.path)
    return failure(EINVAL, "lookup of a path that is not canonical: " + q.path);
  pc::Reply r;
  if (const Inode* n = w.lookup(q.path))
    r.found = pc::Found{n->is_dir, n->mode, n->uid, n->gid, n->size, n->log_index, n->fmap};
  return r;
}

} // namespace

pc::Reply ControlServer::answer(Client& c, const pc::Request& q) {
  master::Writer& w = ctx_.writer;
  pc::Reply r;
  switch (q.op) {
    case pc::Op::Hello:
      if (q.version != pc::kVersion)
        return failure(EPROTO, "this famfs command speaks control protocol " +
                                   std::to_string(q.version) + ", the famfs daemon of " +
                                   ctx_.mountpoint + " " + std::to_string(pc::kVersion) +
                                   ": run the famfs that came with the running famfs-fused");
      r.fs_uuid = ctx_.fs_uuid;
      r.mountpoint = ctx_.mountpoint;
      r.pid = long(::getpid());
      return r;
    case pc::Op::Lookup: return lookup(w, q);
    case pc::Op::Reserve:
      w.reserve(q.n);
      c.reserved += q.n;
      r.value = w.free_slots();
      return r;
    case pc::Op::Unreserve:
      if (q.n > c.reserved)
        return failure(EINVAL, "unreserve of " + std::to_string(q.n) + " log slots, but this "
                               "command holds " + std::to_string(c.reserved));
      w.unreserve(q.n);
      c.reserved -= q.n;
      r.value = w.free_slots();
      return r;
    case pc::Op::FreeSlots: r.value = w.free_slots(); return r;
    case pc::Op::Allocate:
      if (c.outstanding.size() >= pc::kMaxOutstanding)
        return failure(ENOBUFS, "a famfs command may hold " + std::to_string(pc::kMaxOutstanding) +
                                    " allocations not yet in the log; append some first");
      r.fmap = w.allocate(q.n, q.interleave, q.path);
      r.fmap_size = q.n;
      c.outstanding.push_back(r.fmap);
      return r;
    case pc::Op::Release: {
      auto it = std::find(c.outstanding.begin(), c.outstanding.end(), q.fmap);
      if (it == c.outstanding.end())
        return failure(EINVAL, "release of space this famfs command did not allocate (or that a "
                               "log entry claims already); nothing released");
      w.release(q.fmap);
      c.outstanding.erase(it);
      return r;
    }
    case pc::Op::FreeBytes: r.value = w.free_bytes(); return r;
    case pc::Op::Append: return append(c, q.entry);
    case pc::Op::Logplay: r.report = ctx_.logplay(); return r;
  }
  return failure(EINVAL, "unknown request");
}

// An entry from outside is checked as replay would check it before it is written, and a file's
// map must be space this client allocated or, for a clone, space the log already claims.
pc::Reply ControlServer::append(Client& c, const omf::LogEntry& e) {
  if (auto why = ctx_.entry_problem(e)) return failure(EINVAL, "log entry refused: " + *why);
  auto mine = c.outstanding.end();
  if (e.famfs_log_entry_type == omf::kLogFile) {
    const Fmap f = fmap_from_log(e.famfs_fm.fm_fmap).fmap;
    mine = std::find(c.outstanding.begin(), c.outstanding.end(), f);
    if (mine == c.outstanding.end() && !ctx_.claimed(f))
      return failure(EINVAL, "log entry refused: its map is neither space this famfs command "
                             "allocated nor that of a file in the log (a clone)");
  }
  if (c.reserved == 0) {
    ctx_.writer.reserve(1); // so the append uses this client's slot, no other's
    c.reserved = 1;
  }
  pc::Reply r;
  r.value = ctx_.writer.append(e);
  --c.reserved;
  if (mine != c.outstanding.end()) c.outstanding.erase(mine);
  // Applied as re-read: did the replay create what the entry names?
  const bool is_file = e.famfs_log_entry_type == omf::kLogFile;
  const std::string rel(relpath_field(is_file ? e.famfs_fm.fm_relpath : e.famfs_md.md_relpath));
  const Inode* n = ctx_.writer.lookup(normalise_relpath(rel).value_or(rel));
  if (!n || (is_file && n->log_index != r.value))
    r.refused = "the famfs daemon of " + ctx_.mountpoint + " did not apply it (see its log)";
  return r;
}

bool ControlServer::handle(Client& c) {
  int err = 0;
  auto msg = pc::recv_message(c.fd.get(), &err);
  if (!msg) {
    if (err == EMSGSIZE)
      (void)pc::send_message(c.fd.get(), pc::encode(failure(EMSGSIZE,
          "request over " + std::to_string(pc::kMaxMessage) + " bytes"), pc::Op::Hello), true, &err);
    return false;
  }
  std::string why;
  auto q = pc::decode_request(*msg, &why);
  pc::Reply r;
  pc::Op op = q ? q->op : pc::Op::Hello;
  if (!q) {
    r = failure(EINVAL, "bad control request: " + why);
  } else {
    try {
      r = answer(c, *q);
    } catch (const Error& e) {
      r = failure(e.err(), e.what());
    } catch (const std::exception& e) {
      r = failure(EIO, std::string("famfs daemon: ") + e.what());
    }
  }
  return pc::send_message(c.fd.get(), pc::encode(r, op), true, &err);
}

} // namespace famfs::daemon
