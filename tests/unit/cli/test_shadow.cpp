// The shadow YAML of famfs logplay --shadow, byte for byte against spec B§7.2.
#include <catch2/catch.hpp>

#include "cli/shadow.hpp"

using famfs::Extent;
using famfs::Fmap;
using famfs::cli::shadow_yaml;
using famfs::cli::ShadowFile;

namespace {

ShadowFile simple_file() {
  ShadowFile f;
  f.path = "dir1/file1";
  f.size = 1048576;
  f.flags = 2;
  f.mode = 0644;
  f.uid = 1000;
  f.gid = 1000;
  f.fmap.extents = {Extent{0xa00000, 0x200000}};
  return f;
}

} // namespace

TEST_CASE("shadow YAML of a simple file is the spec's example", "[shadow]") {
  const char* want =
      "---\n"
      "file:\n"
      "  path: dir1/file1\n"
      "  size: 1048576\n"
      "  flags: 2\n"
      "  mode: 0644\n"
      "  uid: 1000\n"
      "  gid: 1000\n"
      "  nextents: 1\n"
      "  simple_ext_list:\n"
      "  - devindex: 0\n"
      "    offset: 0xa00000\n"
      "    length: 0x200000\n"
      "...\n";
  auto y = shadow_yaml(simple_file());
  REQUIRE(y);
  CHECK(*y == want);
}

TEST_CASE("shadow YAML of an interleaved file has the striped list", "[shadow]") {
  ShadowFile f = simple_file();
  f.path = "ifile";
  f.size = 6291456;
  f.fmap.kind = Fmap::Kind::Interleave;
  f.fmap.chunk_size = 0x200000;
  f.fmap.extents = {Extent{0x40000000, 0x400000}, Extent{0x80000000, 0x400000}};
  const char* want =
      "---\n"
      "file:\n"
      "  path: ifile\n"
      "  size: 6291456\n"
      "  flags: 2\n"
      "  mode: 0644\n"
      "  uid: 1000\n"
      "  gid: 1000\n"
      "  nextents: 1\n"
      "  striped_ext_list:\n"
      "  - nstrips: 2\n"
      "    chunk_size: 0x200000\n"
      "    simple_ext_list:\n"
      "    - devindex: 0\n"
      "      offset: 0x40000000\n"
      "      length: 0x400000\n"
      "    - devindex: 0\n"
      "      offset: 0x80000000\n"
      "      length: 0x400000\n"
      "...\n";
  auto y = shadow_yaml(f);
  REQUIRE(y);
  CHECK(*y == want);
}

TEST_CASE("shadow YAML: mode 0, quoting of paths plain style cannot carry", "[shadow]") {
  ShadowFile f = simple_file();
  f.mode = 0;
  CHECK(shadow_yaml(f)->find("\n  mode: 00\n") != std::string::npos);
  f.path = "a: b";
  CHECK(shadow_yaml(f)->find("\n  path: 'a: b'\n") != std::string::npos);
  f.path = "caf\xc3\xa9";
  CHECK(shadow_yaml(f)->find("\n  path: \"caf\\xE9\"\n") != std::string::npos);
  f.path = "-lead";
  CHECK(shadow_yaml(f)->find("\n  path: -lead\n") != std::string::npos);
}

TEST_CASE("shadow YAML refuses a path that is not UTF-8", "[shadow]") {
  ShadowFile f = simple_file();
  f.path = "bad\xff";
  std::string why;
  CHECK_FALSE(shadow_yaml(f, &why));
  CHECK_FALSE(why.empty());
}
