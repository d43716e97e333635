// The owner's Writer (master/owned_writer.hpp) over a fake host: an in-memory file system with
// its own replayer and namespace, as the master daemon has.
#include <catch2/catch.hpp>

#include <cerrno>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "../meta_replay/fs_helpers.hpp"
#include "master/owned_writer.hpp"
#include "meta/error.hpp"
#include "meta/replay.hpp"

using namespace famfs;
using famfs::rtest::kAU;
using famfs::rtest::TestFs;

namespace {

class FakeHost final : public master::WriterHost {
 public:
  explicit FakeHost(TestFs& fs) : fs_(fs), ns_(fs.geo, true), rp_(fs.cspan(), fs.geo, CacheOps{}) {
    rp_.play(ns_);
  }
  const Inode* lookup(const std::string& rel) override {
    std::shared_lock g(table_mu_);
    auto ino = ns_.resolve(rel);
    return ino ? ns_.get(*ino) : nullptr;
  }
  ReplayReport append_and_replay(const std::function<void()>& write) override {
    std::lock_guard g(replay_mu_);
    write();
    return play_locked();
  }
  ReplayReport replay_now() override {
    std::lock_guard g(replay_mu_);
    return play_locked();
  }
  Space space() override {
    std::lock_guard g(replay_mu_);
    return {rp_.space().bitmap(), rp_.played()};
  }
  uint64_t played() override {
    std::lock_guard g(replay_mu_);
    return rp_.played();
  }
  std::optional<ReplayIssue> check_applied(uint64_t count) override {
    std::lock_guard g(replay_mu_);
    return count ? rp_.recheck_applied(count) : std::nullopt;
  }
  uint64_t entries() override { return rp_.log_next_index(); }

 private:
  ReplayReport play_locked() {
    std::unique_lock t(table_mu_);
    return rp_.play(ns_);
  }
  TestFs& fs_;
  Namespace ns_;
  Replayer rp_;
  std::mutex replay_mu_;
  std::shared_mutex table_mu_;
};

struct Fixture {
  TestFs fs;
  FakeHost host{fs};
  master::Events ev;
  std::unique_ptr<master::Writer> w = master::open_owned_writer(
      {{"/mnt/test", "/dev/test0.0", false}, fs.geo, fs.span()}, host, ev);
};

omf::LogEntry file_of(const std::string& rel, uint64_t size, const Fmap& f) {
  FileEntryParams fp;
  fp.relpath = rel;
  fp.size = size;
  fp.mode = 0644;
  fp.fmap = f;
  return make_file_entry(fp);
}

bool overlap(const Fmap& a, const Fmap& b) {
  for (const Extent& x : a.extents)
    for (const Extent& y : b.extents)
      if (x.offset < y.offset + y.len && y.offset < x.offset + x.len) return true;
  return false;
}

} // namespace

TEST_CASE("owned writer: appends show in the host's namespace at once") {
  Fixture f;
  f.w->reserve(2);
  f.w->append(make_mkdir_entry("d", 0755, 0, 0));
  Fmap m = f.w->allocate(4096, std::nullopt, "d/a");
  uint64_t idx = f.w->append(file_of("d/a", 4096, m));
  CHECK(idx == 1);
  const Inode* n = f.w->lookup("d/a");
  REQUIRE(n);
  CHECK(n->fmap == m);
  CHECK(f.w->appended() == 2);
  auto r = f.w->logplay();
  REQUIRE(r);
  CHECK(r->entries == 2u);
  CHECK_FALSE(r->damaged);
}

TEST_CASE("owned writer: allocations never overlap, committed or outstanding") {
  Fixture f;
  Fmap a = f.w->allocate(kAU, std::nullopt, "a");
  Fmap b = f.w->allocate(kAU, std::nullopt, "b");
  CHECK_FALSE(overlap(a, b));
  f.w->reserve(1);
  f.w->append(file_of("a", kAU, a));
  // The log grew: the allocator's bitmap is taken again, with b still outstanding.
  Fmap c = f.w->allocate(kAU, std::nullopt, "c");
  CHECK_FALSE(overlap(c, a));
  CHECK_FALSE(overlap(c, b));
}

TEST_CASE("owned writer: an entry written by someone else claims its space") {
  Fixture f;
  Fmap a = f.w->allocate(kAU, std::nullopt, "a");
  f.w->release(a);
  // Another writer (here: the test) appends a file over that space; the host replays it.
  f.fs.file("foreign", kAU, a.extents);
  (void)f.host.replay_now();
  Fmap b = f.w->allocate(kAU, std::nullopt, "b");
  CHECK_FALSE(overlap(a, b));
}

TEST_CASE("owned writer: release takes back only what it handed out and nothing claims") {
  Fixture f;
  Fmap a = f.w->allocate(kAU, std::nullopt, "a");
  f.w->reserve(1);
  f.w->append(file_of("a", kAU, a));
  // a is the entry's now: releasing it (a hostile or confused client) is refused.
  try {
    f.w->release(a);
    FAIL("release of committed space was accepted");
  } catch (const Error& e) {
    CHECK(e.err() == EINVAL);
  }
  const uint64_t before = f.w->free_bytes();
  Fmap b = f.w->allocate(kAU, std::nullopt, "b");
  CHECK(f.w->free_bytes() == before - kAU);
  f.w->release(b);
  CHECK(f.w->free_bytes() == before);
}

TEST_CASE("owned writer: refuses to allocate while an applied entry changed") {
  Fixture f;
  Fmap a = f.w->allocate(kAU, std::nullopt, "a");
  f.w->reserve(1);
  f.w->append(file_of("a", kAU, a));
  // Rewrite the applied slot in shared memory (another host's stray store).
  omf::LogEntry e = file_of("a", kAU, {Fmap::Kind::Simple, {{a.extents[0].offset + kAU, kAU}}, 0});
  f.fs.put(0, e);
  try {
    (void)f.w->allocate(kAU, std::nullopt, "b");
    FAIL("allocation over a changed log was accepted");
  } catch (const Error& err) {
    CHECK(err.err() == EUCLEAN);
    CHECK_THAT(err.what(), Catch::Contains("log entry 0") && Catch::Contains("famfs fsck"));
  }
}

TEST_CASE("owned writer: threads allocate and append at once") {
  Fixture f;
  constexpr int kThreads = 4, kEach = 25;
  f.w->reserve(kThreads * kEach);
  std::vector<std::vector<Fmap>> got(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string rel = "f" + std::to_string(t) + "_" + std::to_string(i);
        Fmap m = f.w->allocate(4096, std::nullopt, rel);
        f.w->append(file_of(rel, 4096, m));
        got[t].push_back(m);
      }
    });
  for (auto& t : ts) t.join();
  std::vector<Fmap> all;
  for (auto& g : got) all.insert(all.end(), g.begin(), g.end());
  for (size_t i = 0; i < all.size(); ++i)
    for (size_t j = i + 1; j < all.size(); ++j) REQUIRE_FALSE(overlap(all[i], all[j]));
  CHECK(f.w->appended() == uint64_t(kThreads * kEach));
  CHECK(f.w->lookup("f3_24"));
}
