// Staged files: files created through the master's mount, served by this daemon only until
// they are committed (docs/native-create.md).
//
// A staged file is not in the log. Its data goes straight into device memory, in extents
// allocated from a SpaceSource (the daemon's writer; a fake in the unit tests) as writes
// arrive: the growth policy is next_extent_len(). After the last release, it waits
// `commit_delay_ms` (tools rename or chmod after close: rsync, tar) and is then handed to the
// committer (take_due), which trims it to allocation units (trim_for_commit), appends its FILE
// entry and reports the namespace inode (committed). From then on the staged inode is an
// alias of the committed one until the kernel forgets it.
//
// Locking: the table's mutex guards names, counts and the index; each file's own mutex guards
// its size and extents (the data path takes only that one). Order: table, then file.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "meta/cacheops.hpp"
#include "meta/fmap.hpp"
#include "meta/namespace.hpp"

namespace famfs::daemon {

// Staged inode numbers start here, far above any the log can give (one per slot).
inline constexpr Ino kStagedInoBase = Ino{1} << 48;
inline bool is_staged_ino(Ino ino) { return ino >= kStagedInoBase; }
// readdir offsets of staged children start here, above any offset of a logged child.
inline constexpr uint64_t kStagedDirOff = uint64_t{1} << 62;

// Where staged files get their space and log slots. allocate() returns one extent of
// round_up(size, AU) or throws famfs::Error (ENOSPC with a message naming `what` and the free
// space). Each staged file holds one reserved log slot from create to commit or discard
// (reserve_slot throws famfs::Error when the log is full), so a commit never finds it full.
class SpaceSource {
 public:
  virtual ~SpaceSource() = default;
  virtual Extent allocate(uint64_t size, const std::string& what) = 0;
  virtual void release(const std::vector<Extent>& extents) = 0;
  virtual void reserve_slot() = 0;
  virtual void release_slot() = 0;
};

// The growth policy: the length of the next extent of a file holding `nextents` extents that
// needs `need` more bytes. Extents double from kFirstExtent (2, 4, 8 ... MiB), never less than
// `need` rounded up to the allocation unit `au`.
inline constexpr uint64_t kFirstExtent = uint64_t{2} << 20;
uint64_t next_extent_len(std::size_t nextents, uint64_t need, uint64_t au);

struct StagedFile {
  Ino ino = 0;
  // Under the table's mutex:
  Ino parent = 0;
  std::string name;
  uint32_t mode = 0, uid = 0, gid = 0;
  unsigned opens = 0;         // open handles
  uint64_t nlookup = 0;       // the kernel's references
  bool unlinked = false;      // no name any more: discarded at the last release
  bool committing = false;    // handed to the committer
  int64_t due_ms = -1;        // closed: commit at this time (-1: open or not due)
  Ino committed = 0;          // namespace inode after commit (0: staged)
  // A write failed (ENOSPC, EFBIG): the file is incomplete, discarded at the last release.
  std::atomic<bool> broken{false};
  // Under `mu`:
  mutable std::shared_mutex mu;
  uint64_t size = 0;
  std::vector<Extent> extents; // the allocations, in file order (fmap() merges adjacent ones)
  bool discarded = false;     // space given back: no more I/O
  uint64_t dirty_lo = ~0ULL;  // bytes still in CPU caches, flushed at commit
  uint64_t dirty_hi = 0;

  uint64_t capacity() const; // caller holds mu
  Fmap fmap() const;         // caller holds mu; adjacent allocations merged
};
using StagedPtr = std::shared_ptr<StagedFile>;

// What the kernel needs to know of a staged file (getattr, lookup, readdir).
struct StagedAttr {
  Ino ino = 0;
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t size = 0, capacity = 0;
  Ino committed = 0;
};

class StagedTable {
 public:
  // Copies n bytes of file data into device memory; true when they may still be in CPU caches
  // (flushed at commit), false when they went around them (streaming stores, fenced).
  using Store = std::function<bool(std::byte* dst, const char* src, std::size_t n)>;
  static bool memcpy_store(std::byte* dst, const char* src, std::size_t n) {
    std::memcpy(dst, src, n);
    return true;
  }

  // `dev` is the device mapping (data is copied into it), `au` the allocation unit.
  StagedTable(SpaceSource& space, std::span<std::byte> dev, uint64_t au, CacheOps cache,
              Store store, int64_t commit_delay_ms);

  // ---- names (errno on failure: EEXIST, ENOENT, EBUSY; ENOSPC when the log is full)
  StagedPtr create(Ino parent, std::string_view name, uint32_t mode, uint32_t uid, uint32_t gid,
                   int* err);
  StagedPtr lookup(Ino parent, std::string_view name) const; // staged (not committed) only
  StagedPtr get(Ino ino) const;                              // staged or committed alias
  std::optional<StagedAttr> attr(Ino ino) const;
  StagedAttr attr_of(const StagedPtr& f) const;
  std::pair<Ino, std::string> name_of(const StagedPtr& f) const; // (parent, name)
  // Rename a staged file. A staged file at the target is replaced (EBUSY while it is open);
  // `noreplace`: EEXIST instead.
  int rename(Ino parent, std::string_view name, Ino newparent, std::string_view newname,
             bool noreplace);
  // Remove the name; the space is given back now, or at the last release when still open.
  int unlink(Ino parent, std::string_view name);
  // The staged (not committed) children of `parent`, by inode number.
  std::vector<std::pair<Ino, std::string>> children(Ino parent) const;
  void set_attrs(const StagedPtr& f, const uint32_t* mode, const uint32_t* uid,
                 const uint32_t* gid);

  // ---- kernel references and handles
  void add_lookup(const StagedPtr& f, uint64_t n = 1);
  void forget(Ino ino, uint64_t n);
  // A new handle; false when the file is being committed or was (open the committed inode).
  bool open(const StagedPtr& f);
  // The last release makes the file due for commit after the delay (a broken file is
  // discarded instead).
  void release(const StagedPtr& f, int64_t now_ms);
  // A change by name after close (chmod, rename, utimes): the delay starts again.
  void touch(const StagedPtr& f, int64_t now_ms);

  // ---- data (errno on failure: ENOSPC, EFBIG, EIO after a discard). `what` names the file
  // in the allocator's messages.
  int write(const StagedPtr& f, const char* buf, uint64_t len, uint64_t off,
            const std::string& what);
  uint64_t read(const StagedPtr& f, char* buf, uint64_t len, uint64_t off) const;
  int truncate(const StagedPtr& f, uint64_t size, const std::string& what);
  // fsync: the bytes written so far out of the CPU caches (the file is still staged).
  void flush(const StagedPtr& f);
  // fallocate(2) mode 0 or FALLOC_FL_KEEP_SIZE (`keep_size`).
  int fallocate(const StagedPtr& f, uint64_t off, uint64_t len, bool keep_size,
                const std::string& what);

  // ---- commit
  // Files whose delay has passed (all closed ones with `all`), marked as committing.
  std::vector<StagedPtr> take_due(int64_t now_ms, bool all);
  // Earliest due time, or -1.
  int64_t next_due() const;
  // Trim to allocation units (size 0 keeps one), zero the tail of the last page, flush the
  // data; returns the map for the FILE entry.
  // Throws famfs::Error (no space for the unit of an empty file; discarded).
  Fmap trim_for_commit(const StagedPtr& f, const std::string& what);
  // The entry is in the log as namespace inode `ino`: the name leaves the table, the inode
  // stays an alias until forgotten.
  void committed(const StagedPtr& f, Ino ino);
  // The commit failed: the file is gone, its space given back.
  void abandon(const StagedPtr& f);
  // Back to staged (a commit that could not run yet, e.g. reopened while due).
  void requeue(const StagedPtr& f, int64_t now_ms);

  struct Counts {
    uint64_t files = 0;      // staged, not committed
    uint64_t bytes = 0;      // their allocated space
  };
  Counts counts() const;

 private:
  using Key = std::pair<Ino, std::string>;
  // Caller holds f.mu exclusive.
  int ensure_capacity(StagedFile& f, uint64_t end, bool one_extent, const std::string& what);
  void zero(StagedFile& f, uint64_t off, uint64_t len);
  void mark_dirty(StagedFile& f, uint64_t off, uint64_t len);
  void shrink(StagedFile& f, uint64_t keep); // give back whole units past `keep` bytes
  void flush_dirty(StagedFile& f);            // caller holds f.mu exclusive
  void discard_locked(StagedFile& f); // caller holds the table's mutex, not f.mu
  void erase_name(StagedFile& f);     // caller holds the table's mutex
  void maybe_drop(Ino ino);           // caller holds the table's mutex

  SpaceSource& space_;
  std::span<std::byte> dev_;
  uint64_t au_;
  CacheOps cache_;
  Store store_;
  int64_t delay_ms_;

  mutable std::mutex mu_;
  Ino next_ino_ = kStagedInoBase;
  std::unordered_map<Ino, StagedPtr> by_ino_;
  std::map<Key, Ino> by_name_;
};

} // namespace famfs::daemon
