#include "daemon/staged.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include <spdlog/spdlog.h>

#include "meta/error.hpp"
#include "meta/numeric.hpp"
#include "meta/omf.hpp"

namespace famfs::daemon {

namespace {

constexpr uint64_t kPage = 4096;        // the tail of the last page is zeroed at commit
constexpr unsigned kMaxDoublings = 40;  // kFirstExtent << 40 is past any device
constexpr uint64_t kMaxFileSize = uint64_t(std::numeric_limits<int64_t>::max()); // st_size

uint64_t round_up(uint64_t v, uint64_t au) { return sat_mul(ceil_div(v, au), au); }

// fn(device pointer, offset in the range, length) for each contiguous piece of file bytes
// [off, off + len) inside the extents (which must cover them).
template <typename Fn>
void for_each_run(const std::vector<Extent>& ext, std::span<std::byte> dev, uint64_t off,
                  uint64_t len, Fn&& fn) {
  uint64_t base = 0, done = 0;
  for (const Extent& x : ext) {
    if (done == len) return;
    const uint64_t pos = off + done;
    if (pos < base + x.len) {
      const uint64_t in = pos - base;
      const uint64_t l = std::min(x.len - in, len - done);
      if (x.offset + in + l > dev.size()) return; // never outside the device
      fn(dev.data() + x.offset + in, done, l);
      done += l;
    }
    base += x.len;
  }
}

} // namespace

uint64_t next_extent_len(std::size_t nextents, uint64_t need, uint64_t au) {
  const uint64_t grow = sat_mul(kFirstExtent, uint64_t{1} << std::min<std::size_t>(nextents, kMaxDoublings));
  return std::max(round_up(need, au), round_up(grow, au));
}

// Adjacent allocations as one extent (the map of the FILE entry).
std::vector<Extent> merged(const std::vector<Extent>& ext) {
  std::vector<Extent> out;
  for (const Extent& x : ext) {
    if (!out.empty() && out.back().offset + out.back().len == x.offset)
      out.back().len += x.len;
    else
      out.push_back(x);
  }
  return out;
}

uint64_t StagedFile::capacity() const {
  uint64_t c = 0;
  for (const Extent& x : extents) c = sat_add(c, x.len);
  return c;
}

Fmap StagedFile::fmap() const {
  Fmap m;
  m.extents = merged(extents);
  return m;
}

StagedTable::StagedTable(SpaceSource& space, std::span<std::byte> dev, uint64_t au,
                         CacheOps cache, Store store, int64_t commit_delay_ms)
    : space_(space), dev_(dev), au_(au), cache_(std::move(cache)), store_(std::move(store)),
      delay_ms_(commit_delay_ms) {}

// ---------------------------------------------------------------------------------------------
// Names

StagedPtr StagedTable::create(Ino parent, std::string_view name, uint32_t mode, uint32_t uid,
                              uint32_t gid, int* err) {
  std::lock_guard lk(mu_);
  Key k{parent, std::string(name)};
  if (by_name_.count(k)) {
    *err = EEXIST;
    return nullptr;
  }
  try {
    space_.reserve_slot();
  } catch (const Error&) {
    *err = ENOSPC;
    return nullptr;
  }
  auto f = std::make_shared<StagedFile>();
  f->ino = next_ino_++;
  f->parent = parent;
  f->name = std::string(name);
  f->mode = mode;
  f->uid = uid;
  f->gid = gid;
  by_name_.emplace(std::move(k), f->ino);
  by_ino_.emplace(f->ino, f);
  *err = 0;
  return f;
}

StagedPtr StagedTable::lookup(Ino parent, std::string_view name) const {
  std::lock_guard lk(mu_);
  auto it = by_name_.find(Key{parent, std::string(name)});
  if (it == by_name_.end()) return nullptr;
  return by_ino_.at(it->second);
}

StagedPtr StagedTable::get(Ino ino) const {
  std::lock_guard lk(mu_);
  auto it = by_ino_.find(ino);
  return it == by_ino_.end() ? nullptr : it->second;
}

std::optional<StagedAttr> StagedTable::attr(Ino ino) const {
  StagedPtr f = get(ino);
  if (!f) return std::nullopt;
  return attr_of(f);
}

StagedAttr StagedTable::attr_of(const StagedPtr& f) const {
  StagedAttr a;
  {
    std::lock_guard lk(mu_);
    a.ino = f->ino;
    a.mode = f->mode;
    a.uid = f->uid;
    a.gid = f->gid;
    a.committed = f->committed;
  }
  std::shared_lock fl(f->mu);
  a.size = f->size;
  a.capacity = f->capacity();
  return a;
}

std::pair<Ino, std::string> StagedTable::name_of(const StagedPtr& f) const {
  std::lock_guard lk(mu_);
  return {f->parent, f->name};
}

void StagedTable::erase_name(StagedFile& f) {
  auto it = by_name_.find(Key{f.parent, f.name});
  if (it != by_name_.end() && it->second == f.ino) by_name_.erase(it);
}

int StagedTable::rename(Ino parent, std::string_view name, Ino newparent,
                        std::string_view newname, bool noreplace) {
  std::lock_guard lk(mu_);
  auto it = by_name_.find(Key{parent, std::string(name)});
  if (it == by_name_.end()) return ENOENT;
  StagedPtr f = by_ino_.at(it->second);
  if (f->committing) return EBUSY;
  Key target{newparent, std::string(newname)};
  if (auto t = by_name_.find(target); t != by_name_.end()) {
    if (t->second == f->ino) return 0;
    if (noreplace) return EEXIST;
    StagedPtr old = by_ino_.at(t->second);
    if (old->opens || old->committing) return EBUSY;
    erase_name(*old);
    old->unlinked = true;
    discard_locked(*old);
    maybe_drop(old->ino);
  }
  erase_name(*f);
  f->parent = newparent;
  f->name = std::string(newname);
  by_name_.emplace(std::move(target), f->ino);
  return 0;
}

int StagedTable::unlink(Ino parent, std::string_view name) {
  std::lock_guard lk(mu_);
  auto it = by_name_.find(Key{parent, std::string(name)});
  if (it == by_name_.end()) return ENOENT;
  StagedPtr f = by_ino_.at(it->second);
  if (f->committing) return EBUSY;
  erase_name(*f);
  f->unlinked = true;
  if (f->opens == 0) discard_locked(*f);
  maybe_drop(f->ino);
  return 0;
}

std::vector<std::pair<Ino, std::string>> StagedTable::children(Ino parent) const {
  std::vector<std::pair<Ino, std::string>> out;
  std::lock_guard lk(mu_);
  for (auto it = by_name_.lower_bound(Key{parent, std::string()});
       it != by_name_.end() && it->first.first == parent; ++it)
    out.emplace_back(it->second, it->first.second);
  std::sort(out.begin(), out.end());
  return out;
}

void StagedTable::set_attrs(const StagedPtr& f, const uint32_t* mode, const uint32_t* uid,
                            const uint32_t* gid) {
  std::lock_guard lk(mu_);
  if (mode) f->mode = *mode;
  if (uid) f->uid = *uid;
  if (gid) f->gid = *gid;
}

// ---------------------------------------------------------------------------------------------
// References and handles

void StagedTable::add_lookup(const StagedPtr& f, uint64_t n) {
  std::lock_guard lk(mu_);
  f->nlookup += n;
}

void StagedTable::forget(Ino ino, uint64_t n) {
  std::lock_guard lk(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) return;
  it->second->nlookup -= std::min(n, it->second->nlookup);
  maybe_drop(ino);
}

void StagedTable::maybe_drop(Ino ino) {
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) return;
  const StagedFile& f = *it->second;
  if (f.nlookup == 0 && f.opens == 0 && (f.committed || f.unlinked)) by_ino_.erase(it);
}

bool StagedTable::open(const StagedPtr& f) {
  std::lock_guard lk(mu_);
  if (f->committing || f->committed) return false;
  ++f->opens;
  f->due_ms = -1;
  return true;
}

void StagedTable::release(const StagedPtr& f, int64_t now_ms) {
  std::lock_guard lk(mu_);
  if (f->opens) --f->opens;
  if (f->opens) return;
  if (f->broken && !f->unlinked && !f->committed) {
    spdlog::warn("{}: a write to it failed: discarded at its last close, not committed (its "
                 "space is free)", f->name);
    erase_name(*f);
    f->unlinked = true;
  }
  if (f->unlinked) {
    discard_locked(*f);
    maybe_drop(f->ino);
  } else if (!f->committed) {
    f->due_ms = now_ms + delay_ms_;
  }
}

void StagedTable::touch(const StagedPtr& f, int64_t now_ms) {
  std::lock_guard lk(mu_);
  if (f->due_ms >= 0) f->due_ms = now_ms + delay_ms_;
}

// ---------------------------------------------------------------------------------------------
// Data

int StagedTable::ensure_capacity(StagedFile& f, uint64_t end, bool one_extent,
                                 const std::string& what) {
  uint64_t cap = f.capacity();
  while (cap < end) {
    const std::size_t runs = merged(f.extents).size();
    if (runs >= omf::kMaxExtents) {
      spdlog::warn("{}: file too large for a staged file: {} extents (the format's limit) hold "
                   "{} bytes, {} asked for (EFBIG); size it first with fallocate or truncate",
                   what, runs, cap, end);
      return EFBIG;
    }
    const uint64_t need = end - cap;
    const uint64_t want = one_extent ? round_up(need, au_) : next_extent_len(f.extents.size(), need, au_);
    Extent x;
    try {
      try {
        x = space_.allocate(want, what);
      } catch (const Error& e) {
        if (e.err() != ENOSPC || want == round_up(need, au_)) throw;
        x = space_.allocate(need, what); // no room to grow by doubling: just what is needed
      }
    } catch (const Error& e) {
      spdlog::warn("{}: write refused ({}): {}", what, std::strerror(e.err()), e.what());
      return e.err();
    }
    if (x.len == 0 || x.offset > dev_.size() || x.len > dev_.size() - x.offset) {
      space_.release({x});
      spdlog::error("{}: the allocator gave space outside the device; write refused", what);
      return EIO;
    }
    f.extents.push_back(x); // as allocated: each is given back as it was taken
    cap += x.len;
  }
  return 0;
}

void StagedTable::mark_dirty(StagedFile& f, uint64_t off, uint64_t len) {
  f.dirty_lo = std::min(f.dirty_lo, off);
  f.dirty_hi = std::max(f.dirty_hi, off + len);
}

void StagedTable::zero(StagedFile& f, uint64_t off, uint64_t len) {
  if (!len) return;
  for_each_run(f.extents, dev_, off, len,
               [](std::byte* p, uint64_t, uint64_t l) { std::memset(p, 0, l); });
  mark_dirty(f, off, len);
}

int StagedTable::write(const StagedPtr& f, const char* buf, uint64_t len, uint64_t off,
                       const std::string& what) {
  if (len == 0) return 0;
  std::unique_lock fl(f->mu);
  if (f->discarded) return EIO;
  if (off > kU64Max - len || off + len > kMaxFileSize) return EFBIG;
  const uint64_t end = off + len;
  if (int e = ensure_capacity(*f, end, false, what)) {
    f->broken = true;
    return e;
  }
  if (off > f->size) zero(*f, f->size, off - f->size);
  bool cached = false;
  for_each_run(f->extents, dev_, off, len, [&](std::byte* p, uint64_t at, uint64_t l) {
    cached |= store_(p, buf + at, l);
  });
  if (cached) mark_dirty(*f, off, len);
  f->size = std::max(f->size, end);
  return 0;
}

uint64_t StagedTable::read(const StagedPtr& f, char* buf, uint64_t len, uint64_t off) const {
  std::shared_lock fl(f->mu);
  if (f->discarded || off >= f->size) return 0;
  const uint64_t n = std::min(len, f->size - off);
  uint64_t got = 0;
  for_each_run(f->extents, dev_, off, n, [&](std::byte* p, uint64_t at, uint64_t l) {
    std::memcpy(buf + at, p, l);
    got = at + l;
  });
  return got;
}

// Give back whole units past `keep` bytes.
void StagedTable::shrink(StagedFile& f, uint64_t keep) {
  keep = round_up(keep, au_);
  std::vector<Extent> freed;
  uint64_t base = 0;
  std::vector<Extent> kept;
  for (const Extent& x : f.extents) {
    if (base >= keep) {
      freed.push_back(x);
    } else if (base + x.len > keep) {
      const uint64_t k = keep - base;
      kept.push_back({x.offset, k});
      freed.push_back({x.offset + k, x.len - k});
    } else {
      kept.push_back(x);
    }
    base += x.len;
  }
  if (!freed.empty()) space_.release(freed);
  f.extents = std::move(kept);
}

int StagedTable::truncate(const StagedPtr& f, uint64_t size, const std::string& what) {
  std::unique_lock fl(f->mu);
  if (f->discarded) return EIO;
  if (size > kMaxFileSize) return EFBIG;
  if (size > f->size) {
    if (int e = ensure_capacity(*f, size, true, what)) return e;
    zero(*f, f->size, size - f->size);
  } else {
    shrink(*f, size);
  }
  f->size = size;
  return 0;
}

int StagedTable::fallocate(const StagedPtr& f, uint64_t off, uint64_t len, bool keep_size,
                           const std::string& what) {
  std::unique_lock fl(f->mu);
  if (f->discarded) return EIO;
  if (off > kU64Max - len || off + len > kMaxFileSize) return EFBIG;
  const uint64_t end = off + len;
  if (int e = ensure_capacity(*f, end, true, what)) return e;
  if (!keep_size && end > f->size) {
    zero(*f, f->size, end - f->size);
    f->size = end;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Commit

std::vector<StagedPtr> StagedTable::take_due(int64_t now_ms, bool all) {
  std::vector<StagedPtr> out;
  std::lock_guard lk(mu_);
  for (auto& [ino, f] : by_ino_) {
    if (f->committed || f->unlinked || f->committing || f->opens || f->due_ms < 0) continue;
    if (!all && f->due_ms > now_ms) continue;
    f->committing = true;
    out.push_back(f);
  }
  std::sort(out.begin(), out.end(), [](const StagedPtr& a, const StagedPtr& b) {
    return a->ino < b->ino; // creation order
  });
  return out;
}

int64_t StagedTable::next_due() const {
  int64_t best = -1;
  std::lock_guard lk(mu_);
  for (const auto& [ino, f] : by_ino_) {
    if (f->committed || f->unlinked || f->committing || f->opens || f->due_ms < 0) continue;
    if (best < 0 || f->due_ms < best) best = f->due_ms;
  }
  return best;
}

Fmap StagedTable::trim_for_commit(const StagedPtr& f, const std::string& what) {
  std::unique_lock fl(f->mu);
  if (f->discarded) throw Error(EIO, what + ": discarded before its commit");
  // A file of size 0 keeps (or gets) one unit: a FILE entry needs an extent (Part A §4).
  const uint64_t keep = std::max<uint64_t>(f->size, 1);
  if (int e = ensure_capacity(*f, keep, true, what))
    throw Error(e, what + ": no space for the one allocation unit of an empty file");
  shrink(*f, keep);
  const uint64_t tail_end = std::min(round_up(f->size, kPage), f->capacity());
  if (tail_end > f->size) zero(*f, f->size, tail_end - f->size);
  flush_dirty(*f);
  return f->fmap();
}

void StagedTable::flush_dirty(StagedFile& f) {
  if (f.dirty_lo < f.dirty_hi)
    for_each_run(f.extents, dev_, f.dirty_lo, f.dirty_hi - f.dirty_lo,
                 [&](std::byte* p, uint64_t, uint64_t l) { cache_.flush(p, l); });
  cache_.fence();
  f.dirty_lo = kU64Max;
  f.dirty_hi = 0;
}

void StagedTable::flush(const StagedPtr& f) {
  std::unique_lock fl(f->mu);
  if (!f->discarded) flush_dirty(*f);
}

void StagedTable::committed(const StagedPtr& f, Ino ino) {
  std::lock_guard lk(mu_);
  erase_name(*f);
  f->committed = ino;
  f->committing = false;
  f->due_ms = -1;
  {
    std::unique_lock fl(f->mu);
    f->extents.clear(); // the log owns the space now
  }
  maybe_drop(f->ino);
}

void StagedTable::abandon(const StagedPtr& f) {
  std::lock_guard lk(mu_);
  erase_name(*f);
  f->unlinked = true;
  f->committing = false;
  discard_locked(*f);
  maybe_drop(f->ino);
}

void StagedTable::requeue(const StagedPtr& f, int64_t now_ms) {
  std::lock_guard lk(mu_);
  f->committing = false;
  if (!f->opens && !f->unlinked) f->due_ms = now_ms + delay_ms_;
}

void StagedTable::discard_locked(StagedFile& f) {
  std::unique_lock fl(f.mu);
  if (f.discarded) return;
  if (!f.extents.empty()) space_.release(f.extents);
  if (!f.committed) space_.release_slot();
  f.extents.clear();
  f.size = 0;
  f.discarded = true;
}

StagedTable::Counts StagedTable::counts() const {
  Counts c;
  std::lock_guard lk(mu_);
  for (const auto& [ino, f] : by_ino_) {
    if (f->committed) continue;
    std::shared_lock fl(f->mu);
    if (f->discarded) continue;
    ++c.files;
    c.bytes += f->capacity();
  }
  return c;
}

} // namespace famfs::daemon
