// The inode table (spec B§1, B§8.1, Part A §3-§4): applied entry by entry, no log involved.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "fs_helpers.hpp"
#include "meta/namespace.hpp"

using namespace famfs;
using namespace famfs::rtest;

namespace {

Geometry geo8() {
  Geometry g;
  g.device_size = 8 * kGiB;
  g.log_len = 8 * kMiB;
  return g;
}

omf::LogEntry fentry(const std::string& rel, uint64_t off = 0xA00000, uint64_t size = 100) {
  return file_entry(rel, size, {{off, kAU}});
}

} // namespace

TEST_CASE("the synthetic inodes", "[namespace]") {
  Namespace ns(geo8(), true);
  CHECK(ns.inode_count() == 4);
  CHECK(ns.file_count() == 0);
  CHECK(ns.dir_count() == 0);
  const Inode* root = ns.get(kRootIno);
  REQUIRE(root);
  CHECK(root->is_dir);
  CHECK(root->mode == 0755);
  CHECK(root->children == std::vector<Ino>{kMetaDirIno});
  const Inode* meta = ns.get(kMetaDirIno);
  CHECK(meta->name == ".meta");
  CHECK(meta->is_dir);
  CHECK(meta->children == std::vector<Ino>{kSuperblockIno, kLogIno});
  const Inode* sb = ns.get(kSuperblockIno);
  CHECK(sb->mode == 0400);
  CHECK(sb->size == 2 * kMiB);
  CHECK(sb->fmap.extents == std::vector<Extent>{{0, 2 * kMiB}});
  const Inode* log = ns.get(kLogIno);
  CHECK(log->mode == 0600);
  CHECK(log->size == 8 * kMiB);
  CHECK(log->fmap.extents == std::vector<Extent>{{2 * kMiB, 8 * kMiB}});
  CHECK(ns.resolve(".meta/.log") == kLogIno);
  CHECK(ns.resolve("") == kRootIno);
  CHECK(ns.path_of(kLogIno) == ".meta/.log");
  CHECK(ns.get(0) == nullptr);
  CHECK(ns.get(5) == nullptr);
  Namespace client(geo8(), false);
  CHECK(client.get(kLogIno)->mode == 0400);
}

TEST_CASE("apply creates files and directories with their attributes", "[namespace]") {
  Namespace ns(geo8(), true);
  omf::LogEntry d = make_mkdir_entry("dir", 0700, 1000, 1001);
  CHECK(ns.apply(d, 0) == ApplyResult::CreatedDir);
  omf::LogEntry f = file_entry("dir/f", 12345, {{0xA00000, kAU}, {0xE00000, kAU}}, 0600);
  f.famfs_fm.fm_uid = 7;
  f.famfs_fm.fm_gid = 8;
  CHECK(ns.apply(f, 1) == ApplyResult::CreatedFile);
  CHECK(ns.file_count() == 1);
  CHECK(ns.dir_count() == 1);
  const auto ino = ns.resolve("dir/f");
  REQUIRE(ino);
  CHECK(*ino == 6);
  const Inode* n = ns.get(*ino);
  CHECK(n->name == "f");
  CHECK(n->parent == 5);
  CHECK_FALSE(n->is_dir);
  CHECK(n->mode == 0600);
  CHECK(n->uid == 7);
  CHECK(n->gid == 8);
  CHECK(n->size == 12345);
  CHECK(n->log_index == 1);
  CHECK(n->fmap.extents == std::vector<Extent>{{0xA00000, kAU}, {0xE00000, kAU}});
  const Inode* dn = ns.get(5);
  CHECK(dn->mode == 0700);
  CHECK(dn->uid == 1000);
  CHECK(dn->gid == 1001);
  CHECK(dn->children == std::vector<Ino>{6});
  CHECK(ns.path_of(*ino) == "dir/f");
  CHECK(ns.lookup(5, "f") == 6u);
  CHECK(ns.lookup(5, "g") == std::nullopt);
  CHECK(ns.lookup(kRootIno, "f") == std::nullopt);
  CHECK(ns.resolve("dir/./f") == 6u);
  CHECK(ns.resolve("dir/../dir/f") == 6u);
  CHECK(ns.resolve("..") == std::nullopt);
  CHECK(ns.resolve("dir/f/x") == std::nullopt);
}

TEST_CASE("mode bits beyond the permissions are dropped", "[namespace]") {
  Namespace ns(geo8(), true);
  omf::LogEntry f = fentry("f");
  f.famfs_fm.fm_mode = S_IFDIR | 04755;
  CHECK(ns.apply(f, 0) == ApplyResult::CreatedFile);
  CHECK(ns.get(*ns.resolve("f"))->mode == 04755);
}

TEST_CASE("duplicates: first wins; kind conflicts are skipped", "[namespace]") {
  Namespace ns(geo8(), true);
  REQUIRE(ns.apply(make_mkdir_entry("d", 0755, 0, 0), 0) == ApplyResult::CreatedDir);
  REQUIRE(ns.apply(fentry("f", 0xA00000, 100), 1) == ApplyResult::CreatedFile);
  std::string why;
  CHECK(ns.apply(fentry("f", 0xC00000, 999), 2, &why) == ApplyResult::Existed);
  CHECK(why.find("entry 1") != std::string::npos);
  CHECK(ns.get(*ns.resolve("f"))->size == 100); // first wins
  CHECK(ns.apply(make_mkdir_entry("d", 0700, 0, 0), 3) == ApplyResult::Existed);
  CHECK(ns.get(*ns.resolve("d"))->mode == 0755);
  CHECK(ns.apply(fentry("d"), 4, &why) == ApplyResult::Skipped);
  CHECK(why.find("is a directory") != std::string::npos);
  CHECK(ns.apply(make_mkdir_entry("f", 0755, 0, 0), 5, &why) == ApplyResult::Skipped);
  CHECK(why.find("is a file") != std::string::npos);
  CHECK(ns.inode_count() == 6);
}

TEST_CASE("entries under .meta are skipped and reported, never created (issue 8 defect 8)",
          "[namespace]") {
  Namespace ns(geo8(), true);
  std::string why;
  CHECK(ns.apply(fentry(".meta/evil", 0xA00000, 100), 0, &why) == ApplyResult::Skipped);
  CHECK(why.find("'.meta/evil'") != std::string::npos);
  CHECK(why.find("reserved") != std::string::npos);
  CHECK(ns.apply(make_mkdir_entry(".meta/d", 0777, 0, 0), 1, &why) == ApplyResult::Skipped);
  CHECK(ns.apply(fentry(".meta/.log"), 2, &why) == ApplyResult::Skipped);
  CHECK(ns.apply(make_mkdir_entry(".meta", 0700, 0, 0), 3, &why) == ApplyResult::Skipped);
  CHECK(ns.apply(fentry("./.meta/x"), 4, &why) == ApplyResult::Skipped);   // not canonical
  CHECK(ns.apply(fentry("a/../.meta/x"), 5, &why) == ApplyResult::Skipped);
  CHECK(ns.resolve(".meta/evil") == std::nullopt);
  CHECK(ns.resolve(".meta/d") == std::nullopt);
  CHECK(ns.get(kMetaDirIno)->children == std::vector<Ino>{kSuperblockIno, kLogIno});
  CHECK(ns.get(kMetaDirIno)->mode == 0755);
  CHECK(ns.inode_count() == 4);
  // Names that only start like it are ordinary.
  CHECK(ns.apply(fentry(".metadata", 0xA00000, 100), 6) == ApplyResult::CreatedFile);
  CHECK(ns.apply(make_mkdir_entry("x/.meta", 0755, 0, 0), 7) == ApplyResult::Skipped); // no x
  CHECK(ns.apply(make_mkdir_entry("x", 0755, 0, 0), 8) == ApplyResult::CreatedDir);
  CHECK(ns.apply(make_mkdir_entry("x/.meta", 0755, 0, 0), 9) == ApplyResult::CreatedDir);
}

TEST_CASE("missing parents and files used as directories are skipped", "[namespace]") {
  Namespace ns(geo8(), true);
  std::string why;
  CHECK(ns.apply(fentry("nodir/f"), 0, &why) == ApplyResult::Skipped);
  CHECK(why.find("'nodir'") != std::string::npos);
  CHECK(why.find("does not exist") != std::string::npos);
  CHECK(ns.apply(make_mkdir_entry("a/b", 0755, 0, 0), 1, &why) == ApplyResult::Skipped);
  REQUIRE(ns.apply(fentry("file"), 2) == ApplyResult::CreatedFile);
  CHECK(ns.apply(fentry("file/x"), 3, &why) == ApplyResult::Skipped);
  CHECK(why.find("is a file") != std::string::npos);
  CHECK(ns.resolve("nodir") == std::nullopt); // upstream's bug (a file named after the parent)
  CHECK(ns.inode_count() == 5);
}

TEST_CASE("path rules on the reader side", "[namespace][path]") {
  Namespace ns(geo8(), true);
  REQUIRE(ns.apply(make_mkdir_entry("a", 0755, 0, 0), 0) == ApplyResult::CreatedDir);
  std::string why;
  CHECK(ns.apply(raw_path_file("../x", 100, {{0xA00000, kAU}}), 1, &why) == ApplyResult::Skipped);
  CHECK(why.find("escapes") != std::string::npos);
  CHECK(ns.apply(raw_path_file("a/../../x", 100, {{0xA00000, kAU}}), 2, &why) ==
        ApplyResult::Skipped);
  CHECK(ns.apply(raw_path_file("/etc/passwd", 100, {{0xA00000, kAU}}), 3, &why) ==
        ApplyResult::Skipped);
  CHECK(why.find("absolute") != std::string::npos);
  CHECK(ns.apply(raw_path_file("", 100, {{0xA00000, kAU}}), 4, &why) == ApplyResult::Skipped);
  CHECK(why.find("empty") != std::string::npos);
  CHECK(ns.apply(raw_path_mkdir("a/.."), 5, &why) == ApplyResult::Skipped); // the root itself
  CHECK(ns.apply(raw_path_file(std::string(80, 'x'), 100, {{0xA00000, kAU}}), 6, &why) ==
        ApplyResult::Skipped);
  CHECK(why.find("NUL") != std::string::npos);
  // Not canonical but harmless: normalised, then applied.
  CHECK(ns.apply(raw_path_file("a//./b/", 100, {{0xA00000, kAU}}), 7) == ApplyResult::CreatedFile);
  CHECK(ns.resolve("a/b"));
  CHECK(ns.apply(raw_path_mkdir("a/../c"), 8) == ApplyResult::CreatedDir);
  CHECK(ns.resolve("c"));
  // 79 bytes is the limit the writer enforces; the reader takes it.
  const std::string long79 = "a/" + std::string(77, 'y');
  CHECK(ns.apply(raw_path_file(long79, 100, {{0xA00000, kAU}}), 9) == ApplyResult::CreatedFile);
  CHECK(ns.resolve(long79));
  CHECK_THROWS(file_entry("a/" + std::string(78, 'y'), 100, {{0xA00000, kAU}}));
  CHECK(ns.inode_count() == 8);
}

TEST_CASE("extent rules (Part A §4)", "[namespace][extent]") {
  Namespace ns(geo8(), true);
  auto skipped = [&](omf::LogEntry e, const char* needle) {
    std::string why;
    const ApplyResult r = ns.apply(e, 0, &why);
    INFO(why);
    CHECK(why.find(needle) != std::string::npos);
    return r == ApplyResult::Skipped;
  };
  CHECK(skipped(fentry("f", 0), "offset 0"));
  CHECK(skipped(fentry("f", 0x400000), "superblock and log"));     // inside the log
  CHECK(skipped(fentry("f", 0xA00000 + 4096), "multiple"));        // unaligned
  CHECK(skipped(fentry("f", 8 * kGiB), "beyond the device"));      // past the end
  CHECK(skipped(file_entry("f", 3 * kMiB, {{0xA00000, kAU}}), "file size")); // too small
  omf::LogEntry many = fentry("f");
  many.famfs_fm.fm_fmap.fmap_nextents = 17;
  CHECK(skipped(many, "17 extents"));
  omf::LogEntry none = fentry("f");
  none.famfs_fm.fm_fmap.fmap_nextents = 0;
  CHECK(skipped(none, "no extents"));
  omf::LogEntry dev = fentry("f");
  dev.famfs_fm.fm_fmap.se[0].se_devindex = 1;
  CHECK(skipped(dev, "device index"));
  omf::LogEntry type = fentry("f");
  type.famfs_fm.fm_fmap.fmap_ext_type = 9;
  CHECK(skipped(type, "unknown extent type"));
  CHECK(ns.inode_count() == 4);
  // A valid interleaved file is accepted.
  Fmap il;
  il.kind = Fmap::Kind::Interleave;
  il.chunk_size = kAU;
  il.extents = {{kGiB, 4 * kMiB}, {2 * kGiB, 4 * kMiB}};
  FileEntryParams p;
  p.relpath = "ifile";
  p.size = 6 * kMiB;
  p.fmap = il;
  CHECK(ns.apply(make_file_entry(p), 1) == ApplyResult::CreatedFile);
  CHECK(ns.get(5)->fmap == il);
}

TEST_CASE("ignored entry types", "[namespace]") {
  Namespace ns(geo8(), true);
  omf::LogEntry e = make_mkdir_entry("x", 0755, 0, 0);
  for (uint32_t t : {2u, 3u, 4u, 77u}) {
    e.famfs_log_entry_type = t;
    CHECK(ns.apply(e, 0) == ApplyResult::Ignored);
  }
  CHECK(ns.inode_count() == 4);
}

TEST_CASE("many entries: lookups stay right across index growth", "[namespace]") {
  Namespace ns(geo8(), true);
  uint64_t idx = 0;
  for (int d = 0; d < 50; ++d) {
    REQUIRE(ns.apply(make_mkdir_entry("d" + std::to_string(d), 0755, 0, 0), idx++) ==
            ApplyResult::CreatedDir);
    for (int f = 0; f < 100; ++f)
      REQUIRE(ns.apply(fentry("d" + std::to_string(d) + "/f" + std::to_string(f)), idx++) ==
              ApplyResult::CreatedFile);
  }
  CHECK(ns.file_count() == 5000);
  CHECK(ns.dir_count() == 50);
  for (int d = 0; d < 50; d += 7)
    for (int f = 0; f < 100; f += 13) {
      const std::string p = "d" + std::to_string(d) + "/f" + std::to_string(f);
      const auto ino = ns.resolve(p);
      REQUIRE(ino);
      CHECK(ns.path_of(*ino) == p);
    }
  CHECK(ns.get(*ns.resolve("d3"))->children.size() == 100);
  CHECK(ns.resolve("d3/f100") == std::nullopt);
}

TEST_CASE("reserve: one rehash ahead, lookups and inserts right before and after", "[namespace]") {
  Namespace ns(geo8(), true);
  REQUIRE(ns.apply(make_mkdir_entry("d", 0755, 0, 0), 0) == ApplyResult::CreatedDir);
  REQUIRE(ns.apply(fentry("d/before"), 1) == ApplyResult::CreatedFile);
  ns.reserve(3000);  // the index is rehashed with two entries in it
  ns.reserve(0);     // nothing to do
  CHECK(ns.resolve("d/before"));
  uint64_t idx = 2;
  for (int f = 0; f < 5000; ++f) // past what was reserved: grows as before
    REQUIRE(ns.apply(fentry("d/f" + std::to_string(f)), idx++) == ApplyResult::CreatedFile);
  CHECK(ns.apply(fentry("d/f17"), idx++) == ApplyResult::Existed);
  for (int f = 0; f < 5000; f += 101) CHECK(ns.path_of(*ns.resolve("d/f" + std::to_string(f))) ==
                                            "d/f" + std::to_string(f));
  CHECK(ns.resolve("d/f5000") == std::nullopt);
  CHECK(ns.file_count() == 5001);
}

TEST_CASE("canonical-looking names with dots are names, not . or ..", "[namespace][path]") {
  Namespace ns(geo8(), true);
  REQUIRE(ns.apply(make_mkdir_entry(".d", 0755, 0, 0), 0) == ApplyResult::CreatedDir);
  CHECK(ns.apply(fentry(".d/..x"), 1) == ApplyResult::CreatedFile);
  CHECK(ns.apply(fentry(".d/...", 0xC00000), 2) == ApplyResult::CreatedFile);
  CHECK(ns.apply(fentry(".d/x.", 0xE00000), 3) == ApplyResult::CreatedFile);
  CHECK(ns.path_of(*ns.resolve(".d/..x")) == ".d/..x");
  CHECK(ns.path_of(*ns.resolve(".d/...")) == ".d/...");
  CHECK(ns.path_of(*ns.resolve(".d/x.")) == ".d/x.");
  std::string why;
  CHECK(ns.apply(raw_path_file(".d/./y", 100, {{0x1000000, kAU}}), 4) == ApplyResult::CreatedFile);
  CHECK(ns.resolve(".d/y")); // normalised
  CHECK(ns.apply(raw_path_file(".d/..", 100, {{0x1200000, kAU}}), 5, &why) == ApplyResult::Skipped);
}

TEST_CASE("a moved-from table is empty and safe", "[namespace]") {
  Namespace a(geo8(), true);
  REQUIRE(a.apply(fentry("f"), 0) == ApplyResult::CreatedFile);
  const Inode* f = a.get(5);
  Namespace b(std::move(a));
  CHECK(b.get(5) == f); // inodes do not move
  CHECK(b.resolve("f") == 5u);
  CHECK(b.file_count() == 1);
  CHECK(a.inode_count() == 0);
  CHECK(a.get(1) == nullptr);
  CHECK(a.resolve("f") == std::nullopt);
  CHECK(a.lookup(1, "f") == std::nullopt);
  CHECK(a.apply(fentry("g"), 1) == ApplyResult::Skipped);
  a = std::move(b);
  CHECK(a.resolve("f") == 5u);
  CHECK(b.get(5) == nullptr);
}

TEST_CASE("check says what apply would do and changes nothing", "[namespace]") {
  Namespace ns(geo8(), true);
  REQUIRE(ns.apply(make_mkdir_entry("d", 0755, 0, 0), 0) == ApplyResult::CreatedDir);
  const std::size_t n = ns.inode_count();
  std::string why;
  CHECK(ns.check(fentry("d/f")) == ApplyResult::CreatedFile);
  CHECK(ns.check(make_mkdir_entry("d/e", 0755, 0, 0)) == ApplyResult::CreatedDir);
  CHECK(ns.check(make_mkdir_entry("d", 0755, 0, 0)) == ApplyResult::Existed);
  CHECK(ns.check(fentry("d"), &why) == ApplyResult::Skipped);
  CHECK(why.find("is a directory") != std::string::npos);
  CHECK(ns.check(fentry("x/f"), &why) == ApplyResult::Skipped);
  CHECK(why.find("does not exist") != std::string::npos);
  CHECK(ns.check(fentry(".meta/x"), &why) == ApplyResult::Skipped);
  CHECK(ns.check(fentry("f", 0x100000), &why) == ApplyResult::Skipped); // inside the log
  CHECK(ns.check(raw_path_mkdir("a//b/../c"), &why) == ApplyResult::Skipped); // parent a missing
  CHECK(ns.check(raw_path_mkdir("d//./e")) == ApplyResult::CreatedDir);      // normalised
  CHECK(ns.inode_count() == n);
  CHECK_FALSE(ns.resolve("d/f"));
  CHECK(ns.apply(fentry("d/f"), 1) == ApplyResult::CreatedFile);
  CHECK(ns.check(fentry("d/f"), &why) == ApplyResult::Existed);
}
