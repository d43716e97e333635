// The local Writer: this process maps the device and holds the host's writer lock itself.
#include "master/writer.hpp"

#include <chrono>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "dax/cache.hpp"
#include "dax/device.hpp"
#include "dax/identity.hpp"
#include "dax/mapping.hpp"
#include "master/allocate.hpp"
#include "master/text.hpp"
#include "master/writer_lock.hpp"
#include "meta/append.hpp"
#include "meta/error.hpp"
#include "meta/log.hpp"
#include "meta/replay.hpp"
#include "meta/superblock.hpp"

namespace famfs::master {

namespace {

// The local mount catches up about this often during long batches (not per entry).
constexpr std::chrono::seconds kLogplayEvery{1};

std::string role_refusal(const MountInfo& m, const omf::Superblock& sb, const std::string& what,
                         const std::optional<Uuid>& id, const std::string& id_path) {
  std::string msg = "this host is not the master of the famfs file system mounted at " + m.mpt +
                    " (device " + m.device + "), so it cannot " + what +
                    ": only the master may add to the log.\n"
                    "  master:    the host whose system UUID is " +
                    uuid_to_string(sb.ts_system_uuid) + " (recorded in the superblock)\n"
                    "  this host: ";
  if (id)
    msg += uuid_to_string(*id) + " (from " + id_path + ")";
  else
    msg += "no readable system UUID in " + id_path;
  msg += "\n  Run the command on the master, or check the roles with 'famfs status " + m.mpt + "'.";
  return msg;
}

// The checks before anything is opened for writing: a usable superblock, this host its
// master, a writable mount. Returns the superblock read through the mount.
omf::Superblock check_may_write(const MountInfo& m, const WriterOptions& o) {
  check_daemon_alive(m.mpt); // appending with the mount's daemon gone would not show
  omf::Superblock sb = read_mount_superblock(m);
  SbStatus st = check_superblock(sb);
  if (!sb_usable(st))
    throw Error(EUCLEAN, "the superblock of " + m.device + " (mounted at " + m.mpt +
                             ") is not usable: " + sb_status_text(st) + "; run 'famfs fsck " +
                             m.mpt + "'");
  std::string id_path = dax::system_uuid_path(o.uuid_file);
  std::optional<Uuid> id = dax::read_system_uuid(id_path);
  if (role_of(sb, id ? &*id : nullptr) != Role::Master)
    throw Error(EPERM, role_refusal(m, sb, o.what, id, id_path));
  if (m.read_only)
    throw Error(EROFS, "the famfs at " + m.mpt + " is mounted read-only, so this host will not " +
                           o.what + " through it; remount it without -r to add files");
  return sb;
}

class LocalWriter final : public Writer {
 public:
  LocalWriter(const MountInfo& m, const WriterOptions& o, Events& ev);
  ~LocalWriter() override {
    writer_.reset(); // before the mapping it writes into, and the lock last (member order)
  }

  const MountInfo& mount() const override { return mount_; }
  const Geometry& geometry() const override { return geo_; }
  std::span<std::byte> device() const override { return map_.bytes(); }
  const Inode* lookup(const std::string& relpath) override {
    auto ino = ns().resolve(relpath);
    return ino ? ns().get(*ino) : nullptr;
  }
  void reserve(uint64_t n) override {
    std::lock_guard<std::mutex> g(append_mu_);
    writer_->reserve(n);
  }
  void unreserve(uint64_t n) override {
    std::lock_guard<std::mutex> g(append_mu_);
    writer_->unreserve(n);
  }
  uint64_t free_slots() const override { return writer_->free_slots(); }
  Fmap allocate(uint64_t size, const std::optional<InterleaveParams>& ip,
                const std::string& what) override {
    return allocate_file(allocator(), geo_, mount_.device, size, ip, what);
  }
  void release(const Fmap& f) override { allocator().release(f); }
  uint64_t free_bytes() override { return allocator().free_bytes(); }
  uint64_t append(const omf::LogEntry& e) override;
  uint64_t appended() const override { return appended_; }
  std::optional<LogplayReport> logplay() override;

 private:
  Namespace& ns();
  Allocator& allocator();

  MountInfo mount_;
  Events& ev_;
  WriterLock lock_;
  std::optional<dax::Device> dev_;
  dax::Mapping map_;
  Geometry geo_{};
  std::unique_ptr<LogWriter> writer_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<BitmapBuild> bitmap_;
  std::unique_ptr<Allocator> alloc_;
  std::mutex append_mu_;
  uint64_t appended_ = 0;
  RefusalTracker refusals_;
  std::chrono::steady_clock::time_point last_logplay_ = std::chrono::steady_clock::now();
};

LocalWriter::LocalWriter(const MountInfo& m, const WriterOptions& o, Events& ev)
    : mount_(m), ev_(ev) {
  omf::Superblock sb = check_may_write(mount_, o);
  WriterLock::Options lo;
  if (!o.run_dir.empty()) lo.run_dir = o.run_dir;
  lo.on_wait = [&ev](const std::string& msg) { ev.waiting(msg); };
  lock_ = WriterLock::acquire(uuid_to_string(sb.ts_uuid), lo);

  dev_.emplace(dax::Device::open(mount_.device, true));
  map_ = dax::Mapping::map(*dev_, true);
  omf::Superblock sb2 = read_superblock(map_.cbytes());
  if (std::memcmp(sb2.ts_uuid, sb.ts_uuid, sizeof sb.ts_uuid) != 0)
    throw Error(EXDEV, "device " + mount_.device + " does not hold the file system mounted at " +
                           mount_.mpt + " (file system UUIDs differ); remount it");
  geo_ = geometry_of(sb2, map_.cbytes());
  try {
    writer_ = std::make_unique<LogWriter>(map_.bytes(), geo_, dax::cpu_cache_ops());
  } catch (const Error& e) {
    throw Error(e.err(), std::string(e.what()) + "; nothing was written. Inspect it with "
                                                 "'famfs fsck " + mount_.mpt + "'");
  }
}

Namespace& LocalWriter::ns() {
  if (!ns_) {
    ns_ = std::make_unique<Namespace>(geo_, true);
    Replayer r(map_.cbytes(), dax::cpu_cache_ops());
    r.play(*ns_);
  }
  return *ns_;
}

Allocator& LocalWriter::allocator() {
  if (!alloc_) {
    bitmap_ = std::make_unique<BitmapBuild>(build_bitmap(map_.cbytes(), geo_, dax::cpu_cache_ops()));
    alloc_ = std::make_unique<Allocator>(bitmap_->bitmap, geo_);
  }
  return *alloc_;
}

uint64_t LocalWriter::append(const omf::LogEntry& e) {
  std::lock_guard<std::mutex> g(append_mu_);
  uint64_t idx = writer_->append(e);
  ++appended_;
  refusals_.appended(idx);
  if (ns_) ns_->apply(read_log_entry(map_.cbytes(), idx), idx);
  auto now = std::chrono::steady_clock::now();
  if (now - last_logplay_ >= kLogplayEvery) {
    last_logplay_ = now;
    (void)logplay();
  }
  return idx;
}

std::optional<LogplayReport> LocalWriter::logplay() {
  int err = 0;
  auto raw = request_logplay(mount_.mpt, &err);
  if (!raw) {
    ev_.warning("could not ask the famfs daemon of " + mount_.mpt +
                " to replay the log now (user.famfs.logplay: " + errno_text(err) +
                "); the new entries appear at its next log poll");
    return std::nullopt;
  }
  std::string why;
  auto r = parse_logplay_report(*raw, &why);
  if (!r) {
    ev_.warning("the famfs daemon's logplay report is not JSON (" + why + ")");
    return std::nullopt;
  }
  // Entries this writer wrote that the daemon would not apply: say so (never expected).
  for (const auto& s : refusals_.new_refusals(*r))
    ev_.error("the famfs daemon of " + mount_.mpt + " did not apply log entry " +
              std::to_string(*s.index) + " written by this command: " +
              s.what.value_or("no reason given") + "; run 'famfs fsck " + mount_.mpt + "'");
  return r;
}

} // namespace

std::unique_ptr<Writer> Writer::open(const MountInfo& m, const WriterOptions& o, Events& ev) {
  return std::make_unique<LocalWriter>(m, o, ev);
}

} // namespace famfs::master
