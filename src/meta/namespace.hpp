// The in-memory inode table built by log replay: what the daemon serves and the CLI resolves.
//
// The log is append-only and has no delete, so the table only grows: an inode number, once
// given, names the same object for the life of the table, and a directory's children keep
// their order (readdir offsets stay valid while new entries arrive).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
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
};

// What applying one entry did.
enum class ApplyResult {
  CreatedFile,
  CreatedDir,
  Existed,        // same path already present with the same kind: first wins (B§8.1)
  Ignored,        // DELETE, ADD_DAXDEV, unknown types
  Skipped,        // rejected; see `why`
};

class Namespace {
 public:
  // Creates the root (mode 0755, uid/gid 0) and .meta with .superblock (0444) and .log
  // (0644 when master, else 0444), mapped to their device ranges as upstream (B§1).
  Namespace(const Geometry& g, bool master);

  const Inode* get(Ino ino) const;
  Inode* get_mutable(Ino ino); // for host-local chmod/chown only
  std::optional<Ino> lookup(Ino parent, std::string_view name) const;
  std::optional<Ino> resolve(std::string_view relpath) const; // "" -> root
  std::string path_of(Ino ino) const;                         // relpath, "" for root

  // Apply a validated entry (seqnum and CRC already checked) from slot `index`.
  // Performs path (Part A §3) and extent (Part A §4) validation; on Skipped, *why says why.
  ApplyResult apply(const omf::LogEntry& e, uint64_t index, std::string* why = nullptr);

  std::size_t inode_count() const { return inodes_.size(); }
  std::size_t file_count() const { return files_; } // excluding .meta files
  std::size_t dir_count() const { return dirs_; }   // excluding root and .meta
  Ino max_ino() const { return inodes_.size(); }
  const Geometry& geometry() const { return geo_; }

 private:
  Ino add(Inode&& n);
  struct KeyHash;
  Geometry geo_;
  std::vector<Inode> inodes_;  // ino i lives at inodes_[i - 1]
  std::unordered_map<std::string, Ino> by_key_; // key: parent ino (8 raw bytes) + name
  std::size_t files_ = 0;
  std::size_t dirs_ = 0;
};

} // namespace famfs
