#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>

#include "meta/error.hpp"
#include "meta/path.hpp"

using namespace famfs;
using namespace std::string_literals;

namespace {

int write_errno(std::string_view p) {
  try {
    canonical_relpath_for_write(p);
  } catch (const Error& e) {
    CHECK(std::string(e.what()).size() > 0);
    return e.err();
  }
  return 0;
}

} // namespace

TEST_CASE("normalise_relpath", "[path]") {
  std::string why;
  CHECK(normalise_relpath("a/b/c") == "a/b/c");
  CHECK(normalise_relpath("a//b") == "a/b");
  CHECK(normalise_relpath("./a") == "a");
  CHECK(normalise_relpath("a/") == "a");
  CHECK(normalise_relpath("a/./b/.") == "a/b");
  CHECK(normalise_relpath("a/../b") == "b");
  CHECK(normalise_relpath("a/b/../../c") == "c");
  CHECK(normalise_relpath("...") == "...");
  CHECK(normalise_relpath("..a/b..") == "..a/b..");

  CHECK_FALSE(normalise_relpath("", &why));
  CHECK(why.find("empty") != std::string::npos);
  CHECK_FALSE(normalise_relpath("/a", &why));
  CHECK(why.find("absolute") != std::string::npos);
  CHECK_FALSE(normalise_relpath("..", &why));
  CHECK(why.find("escapes") != std::string::npos);
  CHECK_FALSE(normalise_relpath("a/../../b", &why));
  CHECK(why.find("escapes") != std::string::npos);
  CHECK_FALSE(normalise_relpath("a\0b"s, &why));
  CHECK(why.find("NUL") != std::string::npos);
  CHECK_FALSE(normalise_relpath(".", &why));
  CHECK(why.find("root") != std::string::npos);
  CHECK_FALSE(normalise_relpath("a/..", &why));
  CHECK_FALSE(normalise_relpath("./", &why));
  CHECK_FALSE(normalise_relpath("a/.."));
}

TEST_CASE("canonical_relpath_for_write", "[path]") {
  CHECK(canonical_relpath_for_write("a//b") == "a/b");
  CHECK(canonical_relpath_for_write("./a") == "a");
  CHECK(canonical_relpath_for_write("dir/") == "dir");
  CHECK(canonical_relpath_for_write("dir1/../dd") == "dd");
  CHECK(write_errno("") == EINVAL);
  CHECK(write_errno("/abs") == EINVAL);
  CHECK(write_errno("..") == EINVAL);
  CHECK(write_errno("a/../../b") == EINVAL);
  CHECK(write_errno("a\0b"s) == EINVAL);
  CHECK(write_errno(".") == EINVAL);

  const std::string p79(79, 'x'), p80(80, 'x');
  CHECK(canonical_relpath_for_write(p79) == p79);
  CHECK(write_errno(p80) == ENAMETOOLONG);
  // The limit applies to the canonical form, which is what gets logged.
  CHECK(canonical_relpath_for_write("./" + p79) == p79);
  CHECK(canonical_relpath_for_write(std::string(39, 'a') + "//" + std::string(39, 'b')).size() == 79);
  try {
    canonical_relpath_for_write("d/" + p79);
    FAIL("no throw");
  } catch (const Error& e) {
    CHECK(e.err() == ENAMETOOLONG);
    CHECK(std::string(e.what()).find("d/" + p79) != std::string::npos); // names the path
  }
}

TEST_CASE("split_relpath", "[path]") {
  using V = std::vector<std::string_view>;
  CHECK(split_relpath("a/b/c") == V{"a", "b", "c"});
  CHECK(split_relpath("a") == V{"a"});
  CHECK(split_relpath("").empty());
}

TEST_CASE("relpath_field stops at NUL and never reads past 80 bytes", "[path]") {
  char field[80];
  std::memset(field, 0, sizeof field);
  std::memcpy(field, "dir1", 4);
  CHECK(relpath_field(field) == "dir1");
  std::memset(field, 'z', sizeof field); // no terminator at all
  CHECK(relpath_field(field) == std::string(80, 'z'));
  field[0] = '\0';
  CHECK(relpath_field(field).empty());
}
