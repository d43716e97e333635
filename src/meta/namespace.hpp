// The in-memory inode table built by log replay: what the daemon serves and the CLI resolves.
//
// The log is append-only, so the table only grows: an inode number, once given, names the same
// object for the life of the table, and a directory's children keep their order (readdir
// offsets stay valid while new entries arrive). A DELETE entry (docs/delete.md, only on a file
// system with the feature enabled) unlinks an inode: its name leaves the lookup index, it stays
// in the table marked `removed` (open handles keep reading it), and its parent's `children`
// keeps it as a hole readers skip, so offsets still stay valid. Inodes never move in
// memory: a pointer from get() stays valid for the life of the table (a directory's
// `children` vector may still grow, so readers and apply() need the caller's lock).
//
// Memory is the constraint that shapes the private part (<= 256 resident bytes per file at
// 100,000 files, daemon included): inodes live in fixed-size chunks (no reallocation copies,
// no per-node allocation), and the (parent, name) lookup index is an open-addressing table of
// 8-byte slots (32-bit inode number + 32-bit key hash) that compares against the inode's own
// name: no second copy of any key.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meta/fmap.hpp"
#include "meta/geometry.hpp"
#include "meta/omf.hpp"

namespace famfs {

using Ino = uint64_t;
inline constexpr Ino kRootIno = 1;      // FUSE_ROOT_ID
inline constexpr Ino kMetaDirIno = 2;   // .meta
inline constexpr Ino kSuperblockIno = 3;// .meta/.superblock
inline constexpr Ino kLogIno = 4;       // .meta/.log
inline constexpr uint64_t kNoLogIndex = ~0ULL;

struct Inode {
  Ino ino = 0;
  Ino parent = 0;
  std::string name;          // last component ("" for the root)
  bool is_dir = false;
  uint32_t mode = 0;         // permission bits only (no S_IFMT)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;         // files: fm_size; directories: 0
  uint64_t log_index = kNoLogIndex; // slot that created it; kNoLogIndex for synthetic inodes
  Fmap fmap;                 // files only
  std::vector<Ino> children; // directories only, in creation order
  uint32_t subdirs = 0;      // directories only: how many children are directories
  bool removed = false;      // unlinked by a DELETE entry: no name, still readable by ino

  // POSIX link count: a directory has "." and one ".." per subdirectory, plus its entry.
  uint64_t nlink() const {
    if (removed) return 0;
    return is_dir ? 2 + uint64_t{subdirs} : 1;
  }
};

// What applying one entry did.
enum class ApplyResult {
  CreatedFile,
  CreatedDir,
  Existed,        // same path already present with the same kind: first wins (B§8.1)
  Ignored,        // DELETE (feature off), ADD_DAXDEV, unknown types
  Skipped,        // rejected; see `why`
  Removed,        // a DELETE unlinked its target (apply_delete)
};

class Namespace {
 public:
  // Creates the root (mode 0755, uid/gid 0) and .meta with .superblock (0400) and .log
  // (0600 when master, else 0400; root only), mapped to their device ranges as upstream (B§1).
  Namespace(const Geometry& g, bool master);
  // Movable (a moved-from table is empty: get() returns nullptr), not copyable.
  Namespace(Namespace&& o);
  Namespace& operator=(Namespace&& o);
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  const Inode* get(Ino ino) const;
  Inode* get_mutable(Ino ino); // for host-local chmod/chown only
  std::optional<Ino> lookup(Ino parent, std::string_view name) const;
  std::optional<Ino> resolve(std::string_view relpath) const; // "" -> root
  std::string path_of(Ino ino) const;                         // relpath, "" for root

  // Apply a validated entry (seqnum and CRC already checked) from slot `index`.
  // Performs path (Part A §3) and extent (Part A §4) validation; on Skipped, *why says why.
  ApplyResult apply(const omf::LogEntry& e, uint64_t index, std::string* why = nullptr);
  // What apply() would do with `e` now, changing nothing (the same rules): the master daemon
  // checks an entry a client sends before it is written.
  ApplyResult check(const omf::LogEntry& e, std::string* why = nullptr) const;

  // Room for `n` more inodes (at most 2^32 - 1 in all) without growing the lookup index or
  // the chunk table on the way: a replay about to apply n entries rehashes once instead of
  // once per doubling. Only a hint; apply() grows as needed anyway. Allocates ~10 bytes per
  // inode reserved: callers bound n by what they will apply (Replayer: the log's slots).
  void reserve(std::size_t n);
  // Apply a validated DELETE entry (type 2) on a file system with delete enabled: unlinks the
  // file or empty directory created by entry dl_target, if it is live, of the kind dl_flags
  // says and at the path dl_relpath names (else Skipped, *why says why). On Removed, *removed
  // is the unlinked inode (still in the table, `removed` set).
  ApplyResult apply_delete(const omf::LogEntry& e, uint64_t index, std::string* why = nullptr,
                           Ino* removed = nullptr);

  std::size_t inode_count() const { return count_; }
  std::size_t file_count() const { return files_; } // excluding .meta files
  std::size_t dir_count() const { return dirs_; }   // excluding root and .meta
  Ino max_ino() const { return count_; }
  const Geometry& geometry() const { return geo_; }

 private:
  static constexpr unsigned kChunkShift = 10; // 1024 inodes per chunk
  static constexpr std::size_t kChunkSize = std::size_t{1} << kChunkShift;

  struct Plan {
    Ino parent = 0;
    std::string_view name; // into the entry or `normalised`
    uint32_t hash = 0;
    std::size_t pos = 0;   // the empty index slot the probe found (add's slot hint)
    DecodedFmap decoded{};
    std::string normalised;
  };
  ApplyResult plan(const omf::LogEntry& e, Plan& p, std::string* why) const;

  Inode& at(Ino ino) { return chunks_[(ino - 1) >> kChunkShift][(ino - 1) & (kChunkSize - 1)]; }
  const Inode& at(Ino ino) const {
    return chunks_[(ino - 1) >> kChunkShift][(ino - 1) & (kChunkSize - 1)];
  }
  Ino add(Inode&& n); // computes the key hash
  Ino add(Inode&& n, uint32_t hash);
  // As above, with the empty index slot a probe for (parent, name) just found (no second probe
  // when the index need not grow first).
  Ino add(Inode&& n, uint32_t hash, std::size_t free_slot);
  static uint32_t key_hash(Ino parent, std::string_view name);
  // Index slot holding (parent, name), or the empty slot where it would go.
  std::size_t probe(Ino parent, std::string_view name, uint32_t hash) const;
  void index_insert(Ino ino, uint32_t hash);
  void index_insert(Ino ino, uint32_t hash, std::size_t free_slot);
  bool index_must_grow(std::size_t more) const; // load would pass 0.8 with `more` entries
  void index_erase(std::size_t slot); // backward-shift deletion (no tombstones)
  void grow_index();
  void rehash_index(std::size_t slots); // slots: a power of two above the load limit

  Geometry geo_;
  std::vector<std::unique_ptr<Inode[]>> chunks_; // ino i lives in chunk (i-1)/1024
  std::size_t count_ = 0;
  // Open addressing with linear probing. A slot is (32-bit key hash << 32 | ino), 0 = empty:
  // the stored hash filters probes without touching the inode (a cache miss each) and lets
  // the table grow without re-reading any name.
  std::vector<uint64_t> index_;
  std::size_t index_used_ = 0;
  std::size_t files_ = 0;
  std::size_t dirs_ = 0;
};

} // namespace famfs
