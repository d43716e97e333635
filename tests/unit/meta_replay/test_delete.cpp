// DELETE entries (docs/delete.md): replay unlinks, the space becomes deleted (not free), a
// later file reusing it is not a cross-link; without the feature they are ignored as upstream.
#include <catch2/catch.hpp>

#include "fs_helpers.hpp"
#include "meta/extension.hpp"
#include "meta/fsck.hpp"
#include "meta/replay.hpp"

using namespace famfs;
using namespace famfs::rtest;

namespace {

void enable_delete(TestFs& fs) {
  const Uuid u = ext::fs_uuid_of(fs.cspan());
  ext::write_header(fs.span(), ext::make_header(u, ext::kFeatureDelete));
}

uint64_t del(TestFs& fs, uint64_t target, const std::string& rel, bool dir = false) {
  LogWriter w(fs.span(), fs.geo, CacheOps{});
  return w.append(ext::make_delete_entry(target, rel, dir));
}

} // namespace

TEST_CASE("DELETE without the feature is ignored and reported; the file stays", "[delete]") {
  TestFs fs;
  const uint64_t f = fs.file("f", 100, {{0xA00000, kAU}});
  del(fs, f, "f");
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), CacheOps{});
  const ReplayReport rep = r.play(ns);
  CHECK(rep.ignored == 1);
  REQUIRE(rep.ignored_deletes.size() == 1);
  CHECK(rep.ignored_deletes[0].index == 1);
  CHECK(rep.ignored_deletes[0].what.find("not enabled") != std::string::npos);
  CHECK(rep.deleted == 0);
  CHECK(ns.resolve("f"));
  CHECK(r.space().stats().deleted_bytes == 0);
}

TEST_CASE("DELETE with the feature unlinks; the inode stays readable; the space is deleted",
          "[delete]") {
  TestFs fs;
  enable_delete(fs);
  fs.mkdir("d");
  const uint64_t f = fs.file("d/f", 100, {{0xA00000, kAU}});
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), CacheOps{});
  r.play(ns);
  const Ino ino = *ns.resolve("d/f");
  const uint64_t free_before = r.space().free_bytes();
  del(fs, f, "d/f");
  const ReplayReport rep = r.play(ns);
  CHECK(rep.deleted == 1);
  CHECK(rep.removed == std::vector<Ino>{ino});
  CHECK_FALSE(ns.resolve("d/f"));
  CHECK(ns.file_count() == 0);
  REQUIRE(ns.get(ino));
  CHECK(ns.get(ino)->removed);
  CHECK(ns.get(ino)->nlink() == 0);
  CHECK(ns.get(ino)->fmap.extents.size() == 1); // open handles keep reading it
  // Not free: pending reuse.
  CHECK(r.space().free_bytes() == free_before);
  CHECK(r.space().stats().deleted_bytes == kAU);
  REQUIRE(r.space().deleted().size() == 1);
  CHECK(r.space().deleted()[0].delete_index == 2);
  CHECK(r.space().deleted()[0].target_index == f);
  CHECK(r.space().deleted()[0].path == "d/f");
  // The allocator sees it only when the rule says so.
  CHECK(r.space().allocation_bitmap([](const DeletedSpace&) { return false; }).test(5));
  CHECK_FALSE(r.space().allocation_bitmap([](const DeletedSpace&) { return true; }).test(5));

  // The same path again is a new file with a new inode; reusing the space is no cross-link.
  fs.file("d/f", 100, {{0xA00000, kAU}});
  const ReplayReport rep2 = r.play(ns);
  CHECK(rep2.new_files == 1);
  CHECK(*ns.resolve("d/f") != ino);
  CHECK(r.space().stats().collisions == 0);
  CHECK(r.space().stats().deleted_bytes == 0);

  const FsckReport fr = run_fsck(fs.cspan(), &fs.master, CacheOps{});
  CHECK(fr.bitmap.collisions == 0);
  CHECK(fr.bitmap.deletes == 1);
  CHECK(fr.clean());
}

TEST_CASE("DELETE of a directory needs it empty; the tree goes children first", "[delete]") {
  TestFs fs;
  enable_delete(fs);
  const uint64_t d = fs.mkdir("d");
  const uint64_t f = fs.file("d/f", 100, {{0xA00000, kAU}});
  del(fs, d, "d", true); // not empty: skipped
  del(fs, f, "d/f");
  del(fs, d, "d", true);
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), CacheOps{});
  const ReplayReport rep = r.play(ns);
  REQUIRE(rep.skipped.size() == 1);
  CHECK(rep.skipped[0].index == 2);
  CHECK(rep.skipped[0].what.find("not empty") != std::string::npos);
  CHECK(rep.deleted == 2);
  CHECK_FALSE(ns.resolve("d"));
  CHECK(ns.dir_count() == 0);
  CHECK(ns.get(kRootIno)->subdirs == 1); // .meta only
  // A file under the deleted directory has no parent now.
  fs.file("d/g", 100, {{0xC00000, kAU}});
  CHECK(r.play(ns).skipped.size() == 1);
}

TEST_CASE("DELETE entries that do not match their target are skipped", "[delete]") {
  TestFs fs;
  enable_delete(fs);
  const uint64_t a = fs.file("a", 100, {{0xA00000, kAU}});
  const uint64_t b = fs.file("b", 100, {{0xC00000, kAU}});
  del(fs, b, "a");          // path and target disagree
  del(fs, a, "a", true);    // kind
  del(fs, 99, "a");         // target after the DELETE
  del(fs, a, "a/../b");     // not canonical
  del(fs, a, ".meta/.log"); // built in
  omf::LogEntry bad = ext::make_delete_entry(a, "a", false);
  bad.raw[0] = 7; // payload version
  fs.forge_append(bad);
  del(fs, a, "a");
  del(fs, a, "a");          // twice: the second finds nothing
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), CacheOps{});
  const ReplayReport rep = r.play(ns);
  CHECK(rep.skipped.size() == 7);
  CHECK(rep.deleted == 1);
  CHECK(ns.resolve("b"));
  CHECK(r.space().stats().deleted_bytes == kAU);
  const FsckReport fr = run_fsck(fs.cspan(), &fs.master, CacheOps{});
  CHECK(fr.bitmap.deletes == 1);
  CHECK(fr.bitmap.deleted_bytes == kAU);
}

TEST_CASE("namespace: many deletes keep every other name reachable (index erase)", "[delete]") {
  TestFs fs(64 * kGiB, 64 * kMiB);
  enable_delete(fs);
  std::vector<uint64_t> idx;
  for (int i = 0; i < 600; ++i)
    idx.push_back(fs.file("f" + std::to_string(i), 100, {{0x8000000 + uint64_t(i) * kAU, kAU}}));
  for (int i = 0; i < 600; i += 3) del(fs, idx[i], "f" + std::to_string(i));
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), CacheOps{});
  CHECK(r.play(ns).deleted == 200);
  for (int i = 0; i < 600; ++i)
    CHECK(bool(ns.resolve("f" + std::to_string(i))) == (i % 3 != 0));
  CHECK(ns.file_count() == 400);
}
