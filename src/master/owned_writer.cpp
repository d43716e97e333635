// The owner's Writer (owned_writer.hpp): the master daemon's allocation and append.
#include "master/owned_writer.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <vector>

#include "dax/cache.hpp"
#include "master/allocate.hpp"
#include "meta/append.hpp"
#include "meta/error.hpp"

namespace famfs::master {

namespace {

// Applied entries re-read per allocation (as the CLI's writer: a rolling cursor).
constexpr uint64_t kRecheckPerAllocation = 8;

LogplayReport to_logplay(const ReplayReport& r, uint64_t entries,
                         const std::optional<ReplayIssue>& damage) {
  LogplayReport out;
  out.entries = entries;
  out.new_files = r.new_files;
  out.new_dirs = r.new_dirs;
  out.existed = r.existed;
  for (const ReplayIssue& s : r.skipped) out.skipped.push_back({s.index, s.what});
  out.damaged = damage.has_value();
  if (damage) {
    out.damage_index = damage->index;
    out.damage_reason = damage->what;
  }
  return out;
}

class OwnedWriter final : public Writer {
 public:
  OwnedWriter(OwnedWriterSetup s, WriterHost& host, Events& ev)
      : mount_(std::move(s.mount)), geo_(s.geometry), device_(s.device), host_(host), ev_(ev) {}
  ~OwnedWriter() override { log_.reset(); }

  const MountInfo& mount() const override { return mount_; }
  const Geometry& geometry() const override { return geo_; }
  std::span<std::byte> device() const override { return device_; }
  const Inode* lookup(const std::string& relpath) override { return host_.lookup(relpath); }

  void reserve(uint64_t n) override {
    std::lock_guard g(mu_);
    log().reserve(n);
  }
  void unreserve(uint64_t n) override {
    std::lock_guard g(mu_);
    log().unreserve(n);
  }
  uint64_t free_slots() const override {
    std::lock_guard g(mu_);
    return log().free_slots();
  }

  Fmap allocate(uint64_t size, const std::optional<InterleaveParams>& ip,
                const std::string& what) override {
    std::lock_guard g(mu_);
    if (broken_) throw Error(EUCLEAN, *broken_);
    if (auto d = host_.check_applied(kRecheckPerAllocation); d && d->index < host_.played())
      refuse_allocation(mount_.device, mount_.mpt, d->index, d->what);
    Fmap f = allocate_file(allocator(), geo_, mount_.device, size, ip, what);
    outstanding_.push_back(f);
    return f;
  }

  void release(const Fmap& f) override {
    std::lock_guard g(mu_);
    auto it = std::find(outstanding_.begin(), outstanding_.end(), f);
    if (it == outstanding_.end())
      throw Error(EINVAL, "famfs writer of " + mount_.mpt + ": the space given back was not "
                          "allocated by it, or a log entry already claims it; nothing released");
    outstanding_.erase(it);
    allocator().release(f);
  }

  uint64_t free_bytes() override {
    std::lock_guard g(mu_);
    return allocator().free_bytes();
  }

  uint64_t append(const omf::LogEntry& e) override;
  uint64_t appended() const override { return appended_; }
  std::optional<LogplayReport> logplay() override;

 private:
  LogWriter& log() const;
  Allocator& allocator();
  void consume_allocation(const omf::LogEntry& e);

  MountInfo mount_;
  Geometry geo_;
  std::span<std::byte> device_;
  WriterHost& host_;
  Events& ev_;

  mutable std::mutex mu_;               // everything below
  mutable std::unique_ptr<LogWriter> log_; // opened at first use (a damaged log: each use says so)
  // The allocator's bitmap: the host's space of the entries replayed (at bitmap_played_) plus
  // the allocations no entry claims yet (outstanding_). Taken again when the log has grown.
  std::unique_ptr<Bitmap> bitmap_;
  std::unique_ptr<Allocator> alloc_;
  uint64_t bitmap_played_ = 0;
  std::vector<Fmap> outstanding_;
  std::optional<std::string> broken_;   // an appended entry did not read back valid
  std::vector<ReplayIssue> refused_;    // own entries the replay skipped, for logplay()
  std::atomic<uint64_t> appended_{0};
};

// Replay validated [0, played): the LogWriter reads the header and the slots above it only.
LogWriter& OwnedWriter::log() const {
  if (!log_) {
    try {
      log_ = std::make_unique<LogWriter>(device_, geo_, dax::cpu_cache_ops(), host_.played());
    } catch (const Error& e) {
      throw Error(e.err(), std::string(e.what()) + "; nothing was written. Inspect it with "
                                                   "'famfs fsck " + mount_.mpt + "'");
    }
  }
  return *log_;
}

Allocator& OwnedWriter::allocator() {
  if (!alloc_ || host_.played() != bitmap_played_) {
    WriterHost::Space s = host_.space();
    bitmap_ = std::make_unique<Bitmap>(std::move(s.bitmap));
    bitmap_played_ = s.played;
    for (const Fmap& f : outstanding_) mark_allocated(*bitmap_, geo_, f);
    alloc_ = std::make_unique<Allocator>(*bitmap_, geo_);
  }
  return *alloc_;
}

// A FILE entry with the map of an outstanding allocation: that space is the entry's now.
void OwnedWriter::consume_allocation(const omf::LogEntry& e) {
  if (e.famfs_log_entry_type != omf::kLogFile) return;
  const Fmap f = fmap_from_log(e.famfs_fm.fm_fmap).fmap;
  auto it = std::find(outstanding_.begin(), outstanding_.end(), f);
  if (it != outstanding_.end()) outstanding_.erase(it);
}

uint64_t OwnedWriter::append(const omf::LogEntry& e) {
  std::lock_guard g(mu_);
  if (broken_) throw Error(EUCLEAN, *broken_);
  LogWriter& w = log();
  uint64_t idx = 0;
  const ReplayReport rep = host_.append_and_replay([&] { idx = w.append(e); });
  ++appended_;
  consume_allocation(e);
  if (rep.damage || host_.played() <= idx) {
    broken_ = "famfs log entry " + std::to_string(idx) + ", just written, does not read back " +
              "valid (" + (rep.damage ? rep.damage->what : std::string("not replayed")) +
              "); nothing more will be written. Run 'famfs fsck " + mount_.mpt + "'";
    throw Error(EUCLEAN, *broken_);
  }
  for (const ReplayIssue& s : rep.skipped)
    if (s.index == idx) refused_.push_back(s);
  return idx;
}

std::optional<LogplayReport> OwnedWriter::logplay() {
  const ReplayReport r = host_.replay_now();
  LogplayReport out = to_logplay(r, host_.entries(), host_.check_applied(0));
  std::vector<ReplayIssue> refused;
  {
    std::lock_guard g(mu_);
    refused.swap(refused_);
  }
  for (const ReplayIssue& s : refused) {
    ev_.error("the famfs daemon of " + mount_.mpt + " did not apply log entry " +
              std::to_string(s.index) + " written by this writer: " + s.what + "; run 'famfs fsck " +
              mount_.mpt + "'");
    out.skipped.push_back({s.index, s.what});
  }
  return out;
}

} // namespace

std::unique_ptr<Writer> open_owned_writer(OwnedWriterSetup setup, WriterHost& host, Events& ev) {
  return std::make_unique<OwnedWriter>(std::move(setup), host, ev);
}

} // namespace famfs::master
