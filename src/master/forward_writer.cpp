// The forwarding Writer (forward_writer.hpp): one connection to the owner, one request at a time.
#include "master/forward_writer.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/un.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <vector>

#include "dax/device.hpp"
#include "dax/device_id.hpp"
#include "dax/mapping.hpp"
#include "master/text.hpp"
#include "meta/error.hpp"
#include "meta/superblock.hpp"
#include "proto/control.hpp"
#include "proto/unique_fd.hpp"
#include "proto/xattr.h"

namespace famfs::master {

namespace pc = proto::control;

namespace {

pc::Request request(pc::Op op) {
  pc::Request q;
  q.op = op;
  return q;
}

// A connected socket to the owner of file system `fs_uuid`, or an empty fd when none answers.
proto::UniqueFd dial(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) return {};
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  proto::UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return {};
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) return {};
    throw Error(e, "cannot reach the famfs daemon's control socket " + path + ": " +
                       errno_text(e) + (e == EACCES ? " (famfs master commands run as root)" : ""));
  }
  ucred cr{};
  socklen_t len = sizeof cr;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || cr.uid != 0)
    throw Error(EPERM, "the control socket " + path + " is not served by root; not using it "
                       "(remove it, and restart the famfs mount of that file system)");
  return fd;
}

class ForwardWriter final : public Writer {
 public:
  ForwardWriter(const MountInfo& m, proto::UniqueFd fd, const std::string& path, Events& ev)
      : mount_(m), fd_(std::move(fd)), path_(path), ev_(ev) {}

  void hello(const omf::Superblock& sb);
  bool same_device_as(const std::string& owner_mpt) const;
  const MountInfo& mount() const override { return mount_; }
  const Geometry& geometry() const override { return geo_; }
  std::span<std::byte> device() const override { return map_.bytes(); }

  const Inode* lookup(const std::string& relpath) override;
  void reserve(uint64_t n) override { slots(pc::Op::Reserve, n); }
  void unreserve(uint64_t n) override { slots(pc::Op::Unreserve, n); }
  uint64_t free_slots() const override {
    return call(request(pc::Op::FreeSlots)).value;
  }
  Fmap allocate(uint64_t size, const std::optional<InterleaveParams>& ip,
                const std::string& what) override {
    pc::Request q = request(pc::Op::Allocate);
    q.n = size;
    q.path = what.size() > pc::kMaxWhat ? what.substr(0, pc::kMaxWhat) : what;
    q.interleave = ip;
    return call(q).fmap;
  }
  void release(const Fmap& f) override {
    pc::Request q = request(pc::Op::Release);
    q.fmap = f;
    (void)call(q);
  }
  uint64_t free_bytes() override { return call(request(pc::Op::FreeBytes)).value; }
  uint64_t append(const omf::LogEntry& e) override;
  uint64_t appended() const override { return appended_; }
  std::optional<LogplayReport> logplay() override;

 private:
  pc::Reply call(const pc::Request& q) const;
  void slots(pc::Op op, uint64_t n) {
    pc::Request q = request(op);
    q.n = n;
    (void)call(q);
  }
  [[noreturn]] void lost(int err) const;

  MountInfo mount_;
  proto::UniqueFd fd_;
  std::string path_;
  Events& ev_;
  std::string owner_mpt_;
  std::optional<dax::Device> dev_;
  dax::Mapping map_;
  Geometry geo_{};
  mutable std::mutex mu_;         // one request at a time; guards the members below
  std::deque<Inode> looked_up_;   // what lookup() returned (pointers stay valid)
  std::vector<std::pair<uint64_t, std::string>> refused_; // own entries the daemon skipped
  std::atomic<uint64_t> appended_{0};
};

[[noreturn]] void ForwardWriter::lost(int err) const {
  throw Error(err ? err : ECONNRESET,
              "lost the famfs daemon of " + (owner_mpt_.empty() ? mount_.mpt : owner_mpt_) +
                  " (control socket " + path_ + ": " + (err ? errno_text(err) : "closed") +
                  "); what this command had not appended was given back. Check 'famfs status'");
}

pc::Reply ForwardWriter::call(const pc::Request& q) const {
  std::lock_guard g(mu_);
  int err = 0;
  if (!pc::send_message(fd_.get(), pc::encode(q), false, &err)) lost(err);
  auto msg = pc::recv_message(fd_.get(), &err);
  if (!msg) lost(err);
  std::string why;
  auto r = pc::decode_reply(*msg, q.op, &why);
  if (!r)
    throw Error(EPROTO, "the famfs daemon's reply to '" + std::string(pc::op_name(q.op)) +
                            "' is not understood (" + why + "); use the famfs that came with "
                            "the running famfs-fused");
  if (r->err) throw Error(r->err, r->message);
  return *r;
}

// Whether the daemon mounted at `owner_mpt` serves the device this writer's mount names
// (by identity: st_rdev of a device node, st_dev/st_ino of an image file).
bool ForwardWriter::same_device_as(const std::string& owner_mpt) const {
  char buf[4096];
  const ssize_t n = ::getxattr(owner_mpt.c_str(), FAMFS_XATTR_DEVICE, buf, sizeof buf);
  if (n <= 0) return false;
  const auto theirs = dax::device_id_of_path(std::string(buf, size_t(n)));
  const auto ours = dax::device_id_of_path(mount_.device);
  return theirs && ours && *theirs == *ours;
}

void ForwardWriter::hello(const omf::Superblock& sb) {
  const pc::Reply r = call(request(pc::Op::Hello));
  if (r.fs_uuid != uuid_to_string(sb.ts_uuid))
    throw Error(EXDEV, "the famfs daemon on " + path_ + " serves file system " + r.fs_uuid +
                           ", not the one mounted at " + mount_.mpt + "; remount it");
  owner_mpt_ = r.mountpoint;
  // The owner must serve this very device: a copy of the image (another device with the same
  // fs UUID) mounted beside it shares the UUID's socket, and its allocations and appends
  // would land in the other device's log. (Another mount of the same device, as a simulated
  // second host on one machine, is the same device.)
  if (!same_device_as(r.mountpoint))
    throw Error(EXDEV, "file system " + r.fs_uuid + " is owned on this host by the famfs "
                           "daemon of " + r.mountpoint + ", which serves another device than " +
                           mount_.device + " mounted at " + mount_.mpt +
                           " (two devices with one file system UUID: a copy of the image?); "
                           "unmount one of them to write to the other");
  dev_.emplace(dax::Device::open(mount_.device, true));
  map_ = dax::Mapping::map(*dev_, true);
  const omf::Superblock sb2 = read_superblock(map_.cbytes());
  if (std::memcmp(sb2.ts_uuid, sb.ts_uuid, sizeof sb.ts_uuid) != 0)
    throw Error(EXDEV, "device " + mount_.device + " does not hold the file system mounted at " +
                           mount_.mpt + " (file system UUIDs differ); remount it");
  geo_ = geometry_of(sb2, map_.cbytes());
}

const Inode* ForwardWriter::lookup(const std::string& relpath) {
  pc::Request q = request(pc::Op::Lookup);
  q.path = relpath;
  const pc::Reply r = call(q);
  if (!r.found) return nullptr;
  Inode n;
  n.is_dir = r.found->is_dir;
  n.mode = r.found->mode;
  n.uid = r.found->uid;
  n.gid = r.found->gid;
  n.size = r.found->size;
  n.log_index = r.found->log_index;
  n.fmap = r.found->fmap;
  n.name = relpath.substr(relpath.rfind('/') + 1);
  std::lock_guard g(mu_);
  looked_up_.push_back(std::move(n));
  return &looked_up_.back();
}

uint64_t ForwardWriter::append(const omf::LogEntry& e) {
  pc::Request q = request(pc::Op::Append);
  q.entry = e;
  const pc::Reply r = call(q);
  ++appended_;
  if (r.refused) {
    std::lock_guard g(mu_);
    refused_.emplace_back(r.value, *r.refused);
  }
  return r.value;
}

std::optional<LogplayReport> ForwardWriter::logplay() {
  pc::Reply r;
  try {
    r = call(request(pc::Op::Logplay));
  } catch (const Error& e) {
    ev_.warning(std::string("could not ask the famfs daemon to replay the log now (") + e.what() +
                ")");
    return std::nullopt;
  }
  std::string why;
  auto rep = parse_logplay_report(r.report, &why);
  if (!rep) {
    ev_.warning("the famfs daemon's logplay report is not JSON (" + why + ")");
    return std::nullopt;
  }
  std::vector<std::pair<uint64_t, std::string>> refused;
  {
    std::lock_guard g(mu_);
    refused.swap(refused_);
  }
  for (const auto& [idx, what] : refused) {
    ev_.error("the famfs daemon of " + owner_mpt_ + " did not apply log entry " +
              std::to_string(idx) + " written by this command: " + what + "; run 'famfs fsck " +
              mount_.mpt + "'");
    rep->skipped.push_back({idx, what});
  }
  return rep;
}

} // namespace

std::unique_ptr<Writer> connect_owner(const MountInfo& m, const omf::Superblock& sb,
                                      const std::string& run_dir, Events& ev) {
  const std::string path = pc::socket_path(run_dir, uuid_to_string(sb.ts_uuid));
  proto::UniqueFd fd = dial(path);
  if (!fd) return nullptr;
  auto w = std::make_unique<ForwardWriter>(m, std::move(fd), path, ev);
  w->hello(sb);
  return w;
}

} // namespace famfs::master
