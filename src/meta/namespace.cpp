// The in-memory inode table (spec B§1, B§8.1 with Part A §3-§4).
//
// Entries arrive from shared memory that may be hostile: every path is checked lexically before
// it touches the table, every map is checked by validate_fmap, and a rejected entry changes
// nothing. The table only grows, so inode numbers are indexes into chunked storage and a
// directory's children are kept in creation order.
#include "meta/namespace.hpp"

#include <cstdio>
#include <cstring>
#include <algorithm>
#include <functional>
#include <limits>
#include <utility>

#include "meta/extension.hpp"
#include "meta/path.hpp"

namespace famfs {

namespace {

// Printable form of a path for messages: hostile bytes must not garble a log line.
std::string show(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 2);
  out += '\'';
  for (unsigned char c : p) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '\'';
  return out;
}

// True when `p` is already what writers emit (a/b/c: no empty, "." or ".." component). Almost
// every entry is, and then normalise_relpath (which allocates) can be skipped.
// `p` holds no NUL (terminated_field cuts the field at the first one).
bool is_canonical(std::string_view p) {
  if (p.empty()) return false;
  for (std::size_t start = 0;;) {
    const std::size_t slash = std::min(p.find('/', start), p.size());
    const std::size_t len = slash - start;
    // Empty, "." or "..": a component made of one or two dots only.
    if (len == 0 || (p[start] == '.' && (len == 1 || (len == 2 && p[start + 1] == '.'))))
      return false;
    if (slash == p.size()) return true;
    start = slash + 1;
  }
}

// The relpath field of an entry, or nullopt when all 80 bytes are used (no terminator: the
// writer limit is 79 bytes, so such a field was not written by famfs).
std::optional<std::string_view> terminated_field(const char (&field)[omf::kRelpathField]) {
  const void* nul = std::memchr(field, '\0', sizeof(field));
  if (nul == nullptr) return std::nullopt;
  return std::string_view(field, static_cast<std::size_t>(static_cast<const char*>(nul) - field));
}

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

constexpr uint32_t kPermMask = 07777; // the log stores permission bits; never trust S_IFMT
constexpr std::string_view kMetaDirName = ".meta";
// The superblock and the log name every file, size and owner, also those inside directories
// other users cannot open: root only (issue 8 defect 9; upstream's tools run as root).
constexpr uint32_t kMetaFileMode = 0400;
constexpr uint32_t kMasterLogMode = 0600; // the master's commands take their lock on it

} // namespace

Namespace::Namespace(const Geometry& g, bool master) : geo_(g) {
  index_.assign(64, 0);

  Inode root;
  root.parent = kRootIno; // FUSE convention: the root is its own parent
  root.is_dir = true;
  root.mode = 0755;
  add(std::move(root));

  Inode meta;
  meta.parent = kRootIno;
  meta.name = std::string(kMetaDirName);
  meta.is_dir = true;
  meta.mode = 0755;
  add(std::move(meta));

  Inode sb;
  sb.parent = kMetaDirIno;
  sb.name = ".superblock";
  sb.mode = kMetaFileMode;
  sb.size = omf::kSuperblockRegion;
  sb.fmap.extents.push_back({0, omf::kSuperblockRegion});
  add(std::move(sb));

  Inode log;
  log.parent = kMetaDirIno;
  log.name = ".log";
  log.mode = master ? kMasterLogMode : kMetaFileMode;
  log.size = g.log_len;
  log.fmap.extents.push_back({omf::kLogOffset, g.log_len});
  add(std::move(log));

  // The synthetic files are not counted as files (file_count() is what the log created).
  files_ = 0;
  dirs_ = 0;
}

Namespace::Namespace(Namespace&& o)
    : geo_(o.geo_),
      chunks_(std::move(o.chunks_)),
      count_(std::exchange(o.count_, 0)),
      index_(std::move(o.index_)),
      index_used_(std::exchange(o.index_used_, 0)),
      files_(std::exchange(o.files_, 0)),
      dirs_(std::exchange(o.dirs_, 0)) {
  o.chunks_.clear();
  o.index_.assign(64, 0); // a usable empty index: lookups on the moved-from table find nothing
}

Namespace& Namespace::operator=(Namespace&& o) {
  if (this != &o) {
    geo_ = o.geo_;
    chunks_ = std::move(o.chunks_);
    count_ = std::exchange(o.count_, 0);
    index_ = std::move(o.index_);
    index_used_ = std::exchange(o.index_used_, 0);
    files_ = std::exchange(o.files_, 0);
    dirs_ = std::exchange(o.dirs_, 0);
    o.chunks_.clear();
    o.index_.assign(64, 0);
  }
  return *this;
}

const Inode* Namespace::get(Ino ino) const {
  if (ino == 0 || ino > count_) return nullptr;
  return &at(ino);
}

Inode* Namespace::get_mutable(Ino ino) {
  if (ino == 0 || ino > count_) return nullptr;
  return &at(ino);
}

uint32_t Namespace::key_hash(Ino parent, std::string_view name) {
  const uint64_t h = std::hash<std::string_view>{}(name) ^ mix64(parent + 0x9E3779B97F4A7C15ULL);
  return static_cast<uint32_t>(h ^ (h >> 32));
}

namespace {
constexpr uint64_t slot_of(uint32_t hash, Ino ino) { return uint64_t{hash} << 32 | ino; }
constexpr uint32_t slot_hash(uint64_t slot) { return static_cast<uint32_t>(slot >> 32); }
constexpr uint32_t slot_ino(uint64_t slot) { return static_cast<uint32_t>(slot); }
} // namespace

std::size_t Namespace::probe(Ino parent, std::string_view name, uint32_t hash) const {
  const std::size_t mask = index_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const uint64_t v = index_[i];
    if (v == 0) return i;
    if (slot_hash(v) != hash) continue;
    const Inode& n = at(slot_ino(v));
    if (n.parent == parent && n.name == name) return i;
  }
}

void Namespace::grow_index() { rehash_index(index_.size() * 2); }

void Namespace::rehash_index(std::size_t slots) {
  std::vector<uint64_t> old;
  old.swap(index_);
  index_.assign(slots, 0);
  const std::size_t mask = index_.size() - 1;
  for (uint64_t v : old) {
    if (v == 0) continue;
    std::size_t i = slot_hash(v) & mask;
    while (index_[i] != 0) i = (i + 1) & mask;
    index_[i] = v;
  }
}

// Load factor <= 0.8: probes compare stored hashes (cheap, sequential), and the table stays
// near 10 bytes per inode.
bool Namespace::index_must_grow(std::size_t more) const {
  return (index_used_ + more) * 5 > index_.size() * 4;
}

void Namespace::reserve(std::size_t n) {
  const std::size_t limit = std::numeric_limits<uint32_t>::max();
  const std::size_t want = count_ + std::min(n, limit - std::min(count_, limit));
  std::size_t slots = index_.size();
  while (want * 5 > slots * 4) slots *= 2;
  if (slots != index_.size()) rehash_index(slots);
  const std::size_t chunks = (want + kChunkSize - 1) >> kChunkShift;
  if (chunks > chunks_.capacity()) chunks_.reserve(std::max(chunks, 2 * chunks_.capacity()));
}

void Namespace::index_insert(Ino ino, uint32_t hash) {
  if (index_must_grow(1)) grow_index();
  const std::size_t mask = index_.size() - 1;
  std::size_t i = hash & mask;
  while (index_[i] != 0) i = (i + 1) & mask;
  index_[i] = slot_of(hash, ino);
  ++index_used_;
}

void Namespace::index_insert(Ino ino, uint32_t hash, std::size_t free_slot) {
  if (index_must_grow(1) || free_slot >= index_.size() || index_[free_slot] != 0)
    return index_insert(ino, hash); // the slot moves when the index grows
  index_[free_slot] = slot_of(hash, ino);
  ++index_used_;
}

void Namespace::index_erase(std::size_t i) {
  const std::size_t mask = index_.size() - 1;
  for (std::size_t j = (i + 1) & mask; index_[j] != 0; j = (j + 1) & mask) {
    const std::size_t home = slot_hash(index_[j]) & mask;
    // An entry whose home lies cyclically in (i, j] is still reachable: leave it.
    const bool reachable = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (reachable) continue;
    index_[i] = index_[j];
    i = j;
  }
  index_[i] = 0;
  --index_used_;
}

Ino Namespace::add(Inode&& n) {
  const uint32_t hash = key_hash(n.parent, n.name);
  return add(std::move(n), hash);
}

Ino Namespace::add(Inode&& n, uint32_t hash) { return add(std::move(n), hash, index_.size()); }

Ino Namespace::add(Inode&& n, uint32_t hash, std::size_t free_slot) {
  const Ino ino = count_ + 1;
  if (((ino - 1) >> kChunkShift) >= chunks_.size())
    chunks_.push_back(std::make_unique<Inode[]>(kChunkSize));
  n.ino = ino;
  Inode& slot = at(ino);
  slot = std::move(n);
  ++count_;
  if (slot.fmap.extents.capacity() != slot.fmap.extents.size()) slot.fmap.extents.shrink_to_fit();
  if (ino != kRootIno) {
    index_insert(ino, hash, free_slot);
    Inode& parent = at(slot.parent);
    parent.children.push_back(ino);
    if (slot.is_dir) ++parent.subdirs;
  }
  return ino;
}

std::optional<Ino> Namespace::lookup(Ino parent, std::string_view name) const {
  if (parent == 0 || parent > count_ || name.empty()) return std::nullopt;
  const uint64_t v = index_[probe(parent, name, key_hash(parent, name))];
  if (v == 0) return std::nullopt;
  return slot_ino(v);
}

std::optional<Ino> Namespace::resolve(std::string_view relpath) const {
  // Lexical, like the log's own paths: famfs has no symlinks. ".." never climbs above the root.
  if (count_ == 0) return std::nullopt; // moved-from
  Ino cur = kRootIno;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= relpath.size(); ++i) {
    if (i < relpath.size() && relpath[i] != '/') continue;
    const std::string_view c = relpath.substr(start, i - start);
    start = i + 1;
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (cur == kRootIno) return std::nullopt;
      cur = at(cur).parent;
      continue;
    }
    if (!at(cur).is_dir) return std::nullopt;
    const std::optional<Ino> next = lookup(cur, c);
    if (!next) return std::nullopt;
    cur = *next;
  }
  return cur;
}

std::string Namespace::path_of(Ino ino) const {
  if (ino == 0 || ino > count_ || ino == kRootIno) return {};
  std::vector<const std::string*> names;
  for (Ino cur = ino; cur != kRootIno; cur = at(cur).parent) names.push_back(&at(cur).name);
  std::string out;
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (!out.empty()) out += '/';
    out += **it;
  }
  return out;
}

// Everything apply() checks, changing nothing; on CreatedFile/CreatedDir, `p` says where.
ApplyResult Namespace::plan(const omf::LogEntry& e, Plan& p, std::string* why) const {
  auto skip = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return ApplyResult::Skipped;
  };

  const uint32_t type = e.famfs_log_entry_type;
  if (type != omf::kLogFile && type != omf::kLogMkdir) {
    if (why) {
      *why = type == omf::kLogDelete
                 ? "DELETE entry ignored: delete is not enabled on this file system (as "
                   "upstream famfs, the deleted file stays)"
             : type == omf::kLogAddDaxdev ? "ADD_DAXDEV entry (secondary devices unsupported)"
                                           : "unknown entry type " + std::to_string(type);
    }
    return ApplyResult::Ignored;
  }
  const bool is_file = type == omf::kLogFile;
  if (count_ == 0) return skip("the inode table was moved away"); // moved-from: no root

  // Part A §3: the path.
  const std::optional<std::string_view> field =
      terminated_field(is_file ? e.famfs_fm.fm_relpath : e.famfs_md.md_relpath);
  if (!field) return skip("the path field has no terminating NUL within its 80 bytes");
  std::string_view rel = *field;
  if (!is_canonical(rel)) {
    std::string reason;
    std::optional<std::string> n = normalise_relpath(rel, &reason);
    if (!n) return skip("bad path: " + reason);
    p.normalised = std::move(*n); // only used when the stored path is not canonical
    rel = p.normalised;
  }

  // .meta belongs to the daemon (issue 8): no entry may add to it, replace it or shadow it.
  if (rel.substr(0, kMetaDirName.size()) == kMetaDirName &&
      (rel.size() == kMetaDirName.size() || rel[kMetaDirName.size()] == '/'))
    return skip(show(rel) + ": .meta is reserved for the file system's own files");

  // Part A §4: the map, before the table is touched.
  if (is_file) {
    p.decoded = fmap_from_log(e.famfs_fm.fm_fmap);
    if (std::optional<std::string> bad =
            validate_fmap(p.decoded, e.famfs_fm.fm_size, geo_.device_size, geo_.log_len,
                          geo_.alloc_unit))
      return skip("file " + show(rel) + ": " + *bad);
  }

  // Walk to the parent directory; every component before the last must exist as a directory.
  Ino parent = kRootIno;
  std::size_t start = 0;
  for (std::size_t slash = rel.find('/'); slash != std::string_view::npos;
       slash = rel.find('/', start)) {
    const std::string_view comp = rel.substr(start, slash - start);
    const std::optional<Ino> next = lookup(parent, comp);
    if (!next)
      return skip("parent directory " + show(rel.substr(0, slash)) + " of " + show(rel) +
                  " does not exist");
    if (!at(*next).is_dir)
      return skip(show(rel.substr(0, slash)) + " is a file, so " + show(rel) +
                  " cannot be created under it");
    parent = *next;
    start = slash + 1;
  }
  const std::string_view name = rel.substr(start);

  const uint32_t hash = key_hash(parent, name);
  const std::size_t pos = probe(parent, name, hash);
  if (const uint64_t existing = index_[pos]; existing != 0) {
    const Inode& old = at(slot_ino(existing));
    const std::string origin = old.log_index == kNoLogIndex
                                   ? std::string("built in")
                                   : "created by entry " + std::to_string(old.log_index);
    if (old.is_dir != is_file) { // same kind: first wins (B§8.1)
      if (why) *why = show(rel) + " already exists (" + origin + "); the first entry wins";
      return ApplyResult::Existed;
    }
    return skip(show(rel) + (old.is_dir ? " is a directory (" : " is a file (") + origin +
                "); a " + (is_file ? "file" : "directory") + " cannot replace it");
  }
  if (count_ >= std::numeric_limits<uint32_t>::max())
    return skip("the inode table is full (2^32 - 1 inodes)");
  p.parent = parent;
  p.name = name;
  p.hash = hash;
  p.pos = pos;
  return is_file ? ApplyResult::CreatedFile : ApplyResult::CreatedDir;
}

ApplyResult Namespace::check(const omf::LogEntry& e, std::string* why) const {
  Plan p;
  return plan(e, p, why);
}

ApplyResult Namespace::apply(const omf::LogEntry& e, uint64_t index, std::string* why) {
  Plan p;
  const ApplyResult r = plan(e, p, why);
  if (r != ApplyResult::CreatedFile && r != ApplyResult::CreatedDir) return r;
  const bool is_file = r == ApplyResult::CreatedFile;

  Inode n;
  n.parent = p.parent;
  n.name = std::string(p.name);
  n.log_index = index;
  if (is_file) {
    const omf::FileMeta& fm = e.famfs_fm;
    n.mode = fm.fm_mode & kPermMask;
    n.uid = fm.fm_uid;
    n.gid = fm.fm_gid;
    n.size = fm.fm_size;
    n.fmap = std::move(p.decoded.fmap);
  } else {
    const omf::MkdirMeta& md = e.famfs_md;
    n.is_dir = true;
    n.mode = md.md_mode & kPermMask;
    n.uid = md.md_uid;
    n.gid = md.md_gid;
  }
  add(std::move(n), p.hash, p.pos);
  if (is_file) {
    ++files_;
    return ApplyResult::CreatedFile;
  }
  ++dirs_;
  return ApplyResult::CreatedDir;
}

ApplyResult Namespace::apply_delete(const omf::LogEntry& e, uint64_t index, std::string* why,
                                    Ino* removed) {
  auto skip = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return ApplyResult::Skipped;
  };
  if (e.famfs_log_entry_type != omf::kLogDelete) return apply(e, index, why);
  if (count_ == 0) return skip("the inode table was moved away");
  ext::DeleteMeta dm;
  if (const ext::DeleteCheck c = ext::parse_delete(e, dm); c != ext::DeleteCheck::Ok)
    return skip(ext::delete_check_text(c));
  const std::string_view rel = relpath_field(dm.dl_relpath);
  const bool want_dir = (dm.dl_flags & ext::kDeleteFlagDir) != 0;
  if (dm.dl_target >= index)
    return skip("DELETE of " + show(rel) + " names entry " + std::to_string(dm.dl_target) +
                ", which is not before it");
  if (!is_canonical(rel)) return skip("DELETE with a non-canonical path " + show(rel));
  const std::optional<Ino> found = resolve(rel);
  Inode* n = found ? &at(*found) : nullptr;
  if (!n || n->ino == kRootIno || n->log_index != dm.dl_target)
    return skip("DELETE of " + show(rel) + ": no live " + (want_dir ? "directory" : "file") +
                " at that path was created by entry " + std::to_string(dm.dl_target));
  if (n->is_dir != want_dir)
    return skip("DELETE of " + show(rel) + " says " + (want_dir ? "directory" : "file") +
                " but it is a " + (n->is_dir ? "directory" : "file"));
  for (Ino c : n->children)
    if (!at(c).removed)
      return skip("DELETE of directory " + show(rel) + ": it is not empty ('" + at(c).name +
                  "' is in it)");
  index_erase(probe(n->parent, n->name, key_hash(n->parent, n->name)));
  n->removed = true;
  Inode& parent = at(n->parent);
  if (n->is_dir) {
    --parent.subdirs;
    --dirs_;
  } else {
    --files_;
  }
  if (removed) *removed = n->ino;
  return ApplyResult::Removed;
}

} // namespace famfs
