// The staged-file table (daemon/staged.hpp) over a fake device and allocator: growth policy,
// names, the data path, trimming and discarding, and that no space is ever lost or shared.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <vector>

#include "daemon/staged.hpp"
#include "meta/error.hpp"

using namespace famfs;
using namespace famfs::daemon;

namespace {

constexpr uint64_t kAu = uint64_t{2} << 20;
constexpr uint64_t kUnits = 40;

// First-fit over units; counts what is held, refuses double frees.
struct FakeSpace : SpaceSource {
  std::vector<bool> used = std::vector<bool>(kUnits, false);
  uint64_t allocations = 0;
  Extent allocate(uint64_t size, const std::string& what) override {
    const uint64_t n = (size + kAu - 1) / kAu;
    for (uint64_t s = 0; s + n <= kUnits; ++s) {
      bool ok = true;
      for (uint64_t i = s; i < s + n && ok; ++i) ok = !used[i];
      if (!ok) continue;
      for (uint64_t i = s; i < s + n; ++i) used[i] = true;
      ++allocations;
      return {s * kAu, n * kAu};
    }
    throw Error(ENOSPC, "out of space: " + what);
  }
  void release(const std::vector<Extent>& ext) override {
    for (const Extent& x : ext)
      for (uint64_t u = x.offset / kAu; u < (x.offset + x.len) / kAu; ++u) {
        REQUIRE(used[u]);
        used[u] = false;
      }
  }
  int64_t slots = 0;
  int64_t slot_limit = 1000;
  void reserve_slot() override {
    if (slots == slot_limit) throw Error(ENOMEM, "log full");
    ++slots;
  }
  void release_slot() override {
    REQUIRE(slots > 0);
    --slots;
  }
  uint64_t held() const {
    uint64_t n = 0;
    for (bool b : used) n += b;
    return n;
  }
};

struct Fixture {
  FakeSpace space;
  std::vector<std::byte> dev = std::vector<std::byte>(kUnits * kAu, std::byte{0xee});
  uint64_t flushed = 0;
  unsigned fences = 0;
  StagedTable t{space, dev, kAu, cache(), StagedTable::memcpy_store, 10};

  CacheOps cache() {
    CacheOps c;
    c.flush = [this](const void*, std::size_t n) { flushed += n; };
    c.fence = [this] { ++fences; };
    return c;
  }
  StagedPtr make(const char* name, Ino parent = kRootIno) {
    int err = -1;
    StagedPtr f = t.create(parent, name, 0644, 1000, 1000, &err);
    REQUIRE(err == 0);
    REQUIRE(f);
    REQUIRE(t.open(f));
    return f;
  }
};

std::vector<char> bytes(uint64_t n, char c) { return std::vector<char>(n, c); }

} // namespace

TEST_CASE("growth policy: extents double from 2 MiB, never below what is needed") {
  const uint64_t mib = uint64_t{1} << 20;
  CHECK(next_extent_len(0, 1, kAu) == 2 * mib);
  CHECK(next_extent_len(1, 1, kAu) == 4 * mib);
  CHECK(next_extent_len(3, 1, kAu) == 16 * mib);
  CHECK(next_extent_len(0, 9 * mib, kAu) == 10 * mib);
  CHECK(next_extent_len(100, 1, kAu) >= next_extent_len(40, 1, kAu)); // saturates, no UB
  CHECK(next_extent_len(0, 1, 4096) == 2 * mib);
}

TEST_CASE("staged names: create, lookup, rename, unlink, children") {
  Fixture fx;
  StagedPtr a = fx.make("a");
  int err = 0;
  CHECK_FALSE(fx.t.create(kRootIno, "a", 0644, 0, 0, &err));
  CHECK(err == EEXIST);
  CHECK(is_staged_ino(a->ino));
  CHECK(fx.t.lookup(kRootIno, "a") == a);
  CHECK(fx.t.rename(kRootIno, "a", kRootIno, "b", false) == 0);
  CHECK_FALSE(fx.t.lookup(kRootIno, "a"));
  CHECK(fx.t.lookup(kRootIno, "b") == a);
  StagedPtr c = fx.make("c");
  CHECK(fx.t.rename(kRootIno, "b", kRootIno, "c", true) == EEXIST);
  CHECK(fx.t.rename(kRootIno, "b", kRootIno, "c", false) == EBUSY); // c is open
  fx.t.release(c, 0);
  CHECK(fx.t.write(a, "x", 1, 0, "b") == 0);
  CHECK(fx.t.rename(kRootIno, "b", kRootIno, "c", false) == 0);    // c replaced
  CHECK(fx.t.lookup(kRootIno, "c") == a);
  CHECK(fx.t.children(kRootIno).size() == 1);
  CHECK(fx.t.children(kRootIno + 5).empty());
  CHECK(fx.t.unlink(kRootIno, "nope") == ENOENT);
  CHECK(fx.space.held() == 1);
  CHECK(fx.t.unlink(kRootIno, "c") == 0);
  CHECK(fx.space.held() == 1);  // still open: freed at the last release
  fx.t.release(a, 0);
  CHECK(fx.space.held() == 0);
  CHECK(fx.t.counts().files == 0);
  CHECK(fx.space.slots == 0); // each discarded file gave its log slot back
  fx.space.slot_limit = 0;
  CHECK_FALSE(fx.t.create(kRootIno, "full", 0644, 0, 0, &err));
  CHECK(err == ENOSPC);
}

TEST_CASE("staged data: writes grow by doubling extents, holes read as zeros") {
  Fixture fx;
  StagedPtr f = fx.make("f");
  auto one = bytes(kAu, 'a');
  CHECK(fx.t.write(f, one.data(), one.size(), 0, "f") == 0);
  CHECK(f->capacity() == kAu);
  CHECK(fx.t.write(f, "b", 1, kAu, "f") == 0); // next extent: 4 MiB, merged when adjacent
  CHECK(f->capacity() == 3 * kAu);
  CHECK(fx.space.allocations == 2);
  CHECK(fx.t.write(f, "c", 1, kAu + 100, "f") == 0); // a hole: zeros, not the device's 0xee
  char buf[101];
  CHECK(fx.t.read(f, buf, sizeof buf, kAu) == 101);
  CHECK(buf[0] == 'b');
  for (int i = 1; i < 100; ++i) CHECK(buf[i] == 0);
  CHECK(buf[100] == 'c');
  CHECK(fx.t.read(f, buf, 10, kAu + 101) == 0); // at EOF
}

TEST_CASE("staged data: ftruncate or fallocate first gives one extent") {
  Fixture fx;
  StagedPtr f = fx.make("f");
  CHECK(fx.t.truncate(f, 7 * kAu + 5, "f") == 0);
  CHECK(f->extents.size() == 1);
  CHECK(f->capacity() == 8 * kAu);
  auto buf = bytes(8, 'z');
  CHECK(fx.t.read(f, buf.data(), 8, 3 * kAu) == 8);
  CHECK(buf == bytes(8, 0)); // truncate up reads zeros
  StagedPtr g = fx.make("g");
  CHECK(fx.t.fallocate(g, 0, 3 * kAu, true, "g") == 0);
  CHECK(g->size == 0);
  CHECK(g->capacity() == 3 * kAu);
  CHECK(fx.t.fallocate(g, 0, 3 * kAu + 1, false, "g") == 0);
  CHECK(g->size == 3 * kAu + 1);
  CHECK(g->capacity() == 4 * kAu); // one more extent, merged: the space was adjacent
  CHECK(fx.t.truncate(f, kAu + 1, "f") == 0); // shrinking frees whole units
  CHECK(f->capacity() == 2 * kAu);
  CHECK(fx.space.held() == 2 + 4);
}

TEST_CASE("staged data: never past free space, and the file keeps what it has") {
  Fixture fx;
  StagedPtr hog = fx.make("hog");
  CHECK(fx.t.truncate(hog, (kUnits - 3) * kAu, "hog") == 0);
  StagedPtr f = fx.make("f");
  auto big = bytes(2 * kAu, 'q');
  CHECK(fx.t.write(f, big.data(), big.size(), 0, "f") == 0);
  // The next doubling (4 MiB) does not fit, the unit that is left does.
  CHECK(fx.t.write(f, "r", 1, 2 * kAu, "f") == 0);
  CHECK(fx.space.held() == kUnits);
  CHECK(fx.t.write(f, "s", 1, 3 * kAu, "f") == ENOSPC);
  CHECK(f->size == 2 * kAu + 1);
  CHECK(fx.t.truncate(f, 10 * kAu, "f") == ENOSPC);
  fx.t.release(f, 0); // a write failed: discarded, never due
  CHECK_FALSE(fx.t.lookup(kRootIno, "f"));
  CHECK(fx.t.take_due(1000, true).empty());
  CHECK(fx.space.held() == kUnits - 3);
}

TEST_CASE("staged data: at most 16 extents (EFBIG)") {
  Fixture fx;
  // Fragment the space: every other unit held by another file.
  std::vector<StagedPtr> pins;
  for (uint64_t i = 0; i < kUnits; ++i) {
    StagedPtr p = fx.make(("p" + std::to_string(i)).c_str());
    CHECK(fx.t.write(p, "p", 1, 0, "p") == 0);
    fx.t.release(p, 0);
  }
  for (uint64_t i = 0; i < kUnits; i += 2) CHECK(fx.t.unlink(kRootIno, "p" + std::to_string(i)) == 0);
  CHECK(fx.space.held() == kUnits / 2);
  StagedPtr f = fx.make("f");
  auto unit = bytes(kAu, 'u');
  int rc = 0;
  uint64_t off = 0;
  for (; rc == 0; off += kAu) rc = fx.t.write(f, unit.data(), kAu, off, "f");
  CHECK(rc == EFBIG); // 20 single free units, but a file holds 16 extents
  CHECK(f->extents.size() == omf::kMaxExtents);
  CHECK(f->size == omf::kMaxExtents * kAu);
}

TEST_CASE("commit: due after the delay, trimmed to units, flushed; size 0 gets one unit") {
  Fixture fx;
  StagedPtr f = fx.make("f");
  auto data = bytes(kAu + 10, 'd');
  CHECK(fx.t.write(f, data.data(), kAu, 0, "f") == 0);
  CHECK(fx.t.write(f, data.data() + kAu, 10, kAu, "f") == 0);
  CHECK(f->capacity() == 3 * kAu);
  StagedPtr e = fx.make("empty");
  CHECK(fx.t.take_due(1000, true).empty()); // both open
  fx.t.release(f, 100);
  fx.t.release(e, 100);
  CHECK(fx.t.next_due() == 110);
  CHECK(fx.t.take_due(105, false).empty());
  fx.t.touch(f, 105); // chmod or rename after close: the delay starts again
  auto due = fx.t.take_due(110, false);
  REQUIRE(due.size() == 1);
  CHECK(due[0] == e);
  CHECK_FALSE(fx.t.open(e)); // being committed
  Fmap em = fx.t.trim_for_commit(e, "empty");
  CHECK(em.capacity() == kAu);
  due = fx.t.take_due(115, false);
  REQUIRE(due.size() == 1);
  Fmap fm = fx.t.trim_for_commit(f, "f");
  CHECK(fm.capacity() == 2 * kAu);
  CHECK(fx.space.held() == 3);
  CHECK(fx.flushed >= data.size());
  CHECK(fx.fences >= 2);
  // Tail of the last page zeroed.
  CHECK(fx.dev[fm.extents[0].offset + kAu + 10] == std::byte{0});
  fx.t.add_lookup(f);
  fx.t.committed(f, 42);
  fx.t.committed(e, 43);
  CHECK_FALSE(fx.t.lookup(kRootIno, "f"));
  REQUIRE(fx.t.get(f->ino));            // an alias while the kernel knows it
  CHECK(fx.t.attr(f->ino)->committed == 42);
  CHECK_FALSE(fx.t.get(e->ino));        // never looked up: gone
  fx.t.forget(f->ino, 1);
  CHECK_FALSE(fx.t.get(f->ino));
  CHECK(fx.space.held() == 3);          // committed space belongs to the log
  CHECK(fx.t.counts().files == 0);
}

TEST_CASE("commit: abandon gives the space back; reopened before due is not due") {
  Fixture fx;
  StagedPtr f = fx.make("f");
  CHECK(fx.t.write(f, "x", 1, 0, "f") == 0);
  fx.t.release(f, 0);
  CHECK(fx.t.open(f));
  CHECK(fx.t.take_due(1000, true).empty());
  fx.t.release(f, 0);
  auto due = fx.t.take_due(1000, true);
  REQUIRE(due.size() == 1);
  CHECK(fx.t.rename(kRootIno, "f", kRootIno, "g", false) == EBUSY);
  CHECK(fx.t.unlink(kRootIno, "f") == EBUSY);
  fx.t.requeue(f, 1000);
  CHECK(fx.t.next_due() == 1010);
  due = fx.t.take_due(2000, false);
  REQUIRE(due.size() == 1);
  fx.t.abandon(f);
  CHECK(fx.space.held() == 0);
  CHECK_FALSE(fx.t.get(f->ino));
  CHECK(fx.t.write(f, "y", 1, 0, "f") == EIO);
}
