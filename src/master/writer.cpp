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
#include "master/forward_writer.hpp"
#include "master/reuse.hpp"
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
                           o.what + " through it; remount it without --read-only (-o ro) to add files");
  return sb;
}

// Applied entries re-read at each allocation (a rolling cursor over the replayed prefix), so a
// long batch notices an entry another host rewrote without a pass over the log per file.
constexpr uint64_t kRecheckPerAllocation = 8;

class LocalWriter final : public Writer {
 public:
  LocalWriter(const MountInfo& m, const WriterOptions& o, const omf::Superblock& sb, Events& ev);
  ~LocalWriter() override {
    writer_.reset(); // before the mapping it writes into, and the lock last (member order)
  }

  const MountInfo& mount() const override { return mount_; }
  const Geometry& geometry() const override { return geo_; }
  std::span<std::byte> device() const override { return map_.bytes(); }
  const Inode* lookup(const std::string& relpath) override {
    auto ino = ns_->resolve(relpath);
    return ino ? ns_->get(*ino) : nullptr;
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
    check_applied();
    return allocate_file(allocator(), geo_, mount_.device, size, ip, what);
  }
  void release(const Fmap& f) override { allocator().release(f); }
  uint64_t free_bytes() override {
    return alloc_ ? alloc_->free_bytes() : replayer_->space().free_bytes();
  }
  uint64_t append(const omf::LogEntry& e) override;
  uint64_t appended() const override { return appended_; }
  std::optional<LogplayReport> logplay() override { return logplay_now(true); }

 private:
  void replay_and_open_log();
  Allocator& allocator();
  void check_applied();
  void check_daemon_copy();
  std::optional<LogplayReport> logplay_now(bool warn);
  [[noreturn]] void refuse_allocation(uint64_t index, const std::string& what);

  MountInfo mount_;
  Events& ev_;
  WriterLock lock_;
  std::optional<dax::Device> dev_;
  dax::Mapping map_;
  Geometry geo_{};
  // One pass over the log: the replay gives the namespace for path checks, the space the
  // allocator starts from and the prefix the LogWriter need not check again.
  std::optional<Replayer> replayer_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<LogWriter> writer_;
  std::unique_ptr<Bitmap> bitmap_;
  std::unique_ptr<Allocator> alloc_;
  bool daemon_checked_ = false;
  std::optional<std::string> broken_; // an appended entry did not read back valid
  std::mutex append_mu_;
  uint64_t appended_ = 0;
  RefusalTracker refusals_;
  std::chrono::steady_clock::time_point last_logplay_ = std::chrono::steady_clock::now();
};

LocalWriter::LocalWriter(const MountInfo& m, const WriterOptions& o, const omf::Superblock& sb,
                         Events& ev)
    : mount_(m), ev_(ev) {
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
  replay_and_open_log();
}

// Replay stops at the first damaged entry; the LogWriter checks from there (and the header),
// so a damaged log is refused with the same message as by a full check.
void LocalWriter::replay_and_open_log() {
  replayer_.emplace(map_.cbytes(), geo_, dax::cpu_cache_ops());
  ns_ = std::make_unique<Namespace>(geo_, true);
  (void)replayer_->play(*ns_);
  try {
    writer_ = std::make_unique<LogWriter>(map_.bytes(), geo_, dax::cpu_cache_ops(),
                                          replayer_->played());
  } catch (const Error& e) {
    throw Error(e.err(), std::string(e.what()) + "; nothing was written. Inspect it with "
                                                 "'famfs fsck " + mount_.mpt + "'");
  }
}

// The replay's bitmap already holds what this writer appended since (replayed in append()).
Allocator& LocalWriter::allocator() {
  if (!alloc_) {
    bitmap_ = std::make_unique<Bitmap>(
        reuse_bitmap(replayer_->space(), map_.cbytes(), dax::cpu_cache_ops())); // reuse.hpp
    alloc_ = std::make_unique<Allocator>(*bitmap_, geo_);
  }
  return *alloc_;
}

[[noreturn]] void LocalWriter::refuse_allocation(uint64_t index, const std::string& what) {
  master::refuse_allocation(mount_.device, mount_.mpt, index, what);
}

// Issue 8 defect 12: never allocate while the applied prefix differs from the device. This
// command's replay is checked a few slots per allocation; what earlier commands applied is
// known to the mount's daemon, asked once per session.
void LocalWriter::check_applied() {
  std::lock_guard<std::mutex> g(append_mu_);
  if (broken_) throw Error(EUCLEAN, *broken_);
  if (auto c = replayer_->recheck_applied(kRecheckPerAllocation))
    refuse_allocation(c->index, c->what);
  check_daemon_copy();
}

void LocalWriter::check_daemon_copy() {
  if (daemon_checked_) return;
  auto r = logplay_now(false);
  if (!r) return; // unreachable daemon: the hand-off at the end says so
  if (r->damaged && r->damage_index < replayer_->played())
    refuse_allocation(r->damage_index, "the famfs daemon of " + mount_.mpt + " reports: " +
                                           r->damage_reason.value_or("damaged"));
  daemon_checked_ = true;
}

uint64_t LocalWriter::append(const omf::LogEntry& e) {
  std::lock_guard<std::mutex> g(append_mu_);
  if (broken_) throw Error(EUCLEAN, *broken_);
  uint64_t idx = writer_->append(e);
  ++appended_;
  refusals_.appended(idx);
  // Apply the slot as re-read (seqnum and CRC checked), never the entry as meant.
  ReplayReport rep = replayer_->play(*ns_);
  if (rep.damage || replayer_->played() <= idx) {
    broken_ = "famfs log entry " + std::to_string(idx) + ", just written by this command, " +
              "does not read back valid (" +
              (rep.damage ? rep.damage->what : std::string("not replayed")) +
              "); nothing more will be written. Run 'famfs fsck " + mount_.mpt + "'";
    throw Error(EUCLEAN, *broken_);
  }
  auto now = std::chrono::steady_clock::now();
  if (now - last_logplay_ >= kLogplayEvery) {
    last_logplay_ = now;
    (void)logplay_now(true);
  }
  return idx;
}

std::optional<LogplayReport> LocalWriter::logplay_now(bool warn) {
  int err = 0;
  auto raw = request_logplay(mount_.mpt, &err);
  if (!raw) {
    if (warn)
      ev_.warning("could not ask the famfs daemon of " + mount_.mpt +
                " to replay the log now (user.famfs.logplay: " + errno_text(err) +
                "); the new entries appear at its next log poll");
    return std::nullopt;
  }
  std::string why;
  auto r = parse_logplay_report(*raw, &why);
  if (!r) {
    if (warn) ev_.warning("the famfs daemon's logplay report is not JSON (" + why + ")");
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

// The master's daemon owns the writes when its control socket answers; else this command
// writes itself, under the writer lock (a daemon that does not own: -o noowner, not root).
std::unique_ptr<Writer> Writer::open(const MountInfo& m, const WriterOptions& o, Events& ev) {
  const omf::Superblock sb = check_may_write(m, o);
  const std::string run_dir = o.run_dir.empty() ? std::string(kRunDir) : o.run_dir;
  if (auto w = connect_owner(m, sb, run_dir, ev)) return w;
  return std::make_unique<LocalWriter>(m, o, sb, ev);
}

} // namespace famfs::master
