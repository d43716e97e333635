#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "dax/identity.hpp"
#include "helpers.hpp"
#include "meta/error.hpp"

using namespace famfs::dax;
using famfs::test::TempDir;

namespace {
std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}
void write_file(const std::string& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << s;
}
std::string hex(const famfs::Uuid& u) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t b : u) {
    s += d[b >> 4];
    s += d[b & 15];
  }
  return s;
}
} // namespace

TEST_CASE("the identity is created exactly as upstream: dir 0755, file 0444, 37 bytes",
          "[identity]") {
  TempDir d;
  std::string dir = d / "opt/famfs";
  std::string path = dir + "/system_uuid";
  famfs::Uuid u = get_or_create_system_uuid(path);

  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  REQUIRE(::stat((d / "opt").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0444);

  std::string bytes = slurp(path);
  REQUIRE(bytes.size() == 37);
  CHECK(bytes[36] == '\0');
  for (size_t i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23)
      CHECK(bytes[i] == '-');
    else
      CHECK((std::isdigit(static_cast<unsigned char>(bytes[i])) ||
             (bytes[i] >= 'a' && bytes[i] <= 'f')));
  }
  // The text is the canonical form of the returned bytes.
  std::string digits;
  for (size_t i = 0; i < 36; ++i)
    if (bytes[i] != '-') digits += bytes[i];
  CHECK(digits == hex(u));

  // Reading and a second get_or_create give the same identity and leave the file alone.
  auto again = read_system_uuid(path);
  REQUIRE(again);
  CHECK(*again == u);
  CHECK(get_or_create_system_uuid(path) == u);
  CHECK(slurp(path) == bytes);
}

TEST_CASE("reading takes up to 36 non-space characters like fscanf %36s", "[identity]") {
  TempDir d;
  std::string path = d / "id";
  write_file(path, "  f2eee19b-6c47-4dfd-af58-fc1b0113599a\n");
  auto u = read_system_uuid(path);
  REQUIRE(u);
  CHECK(hex(*u) == "f2eee19b6c474dfdaf58fc1b0113599a");

  // Upper case parses too (uuid_parse accepts it).
  write_file(path, "F2EEE19B-6C47-4DFD-AF58-FC1B0113599A");
  REQUIRE(read_system_uuid(path));
  CHECK(hex(*read_system_uuid(path)) == "f2eee19b6c474dfdaf58fc1b0113599a");

  // Trailing characters after the 36th are ignored (the %36s field width).
  write_file(path, "f2eee19b-6c47-4dfd-af58-fc1b0113599aXYZ");
  REQUIRE(read_system_uuid(path));
}

TEST_CASE("a bad identity file is reported and kept, not replaced", "[identity]") {
  TempDir d;
  std::string path = d / "id";
  write_file(path, "not-a-uuid");
  CHECK_FALSE(read_system_uuid(path));
  try {
    get_or_create_system_uuid(path);
    FAIL("expected famfs::Error");
  } catch (const famfs::Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains(path));
  }
  CHECK(slurp(path) == "not-a-uuid");

  write_file(path, "");
  CHECK_FALSE(read_system_uuid(path));
  CHECK_FALSE(read_system_uuid(d / "missing"));
  CHECK_FALSE(read_system_uuid(d.path())); // a directory is not an identity
}

TEST_CASE("the identity path: option, then environment, then the default", "[identity]") {
  const char* old = std::getenv(kSystemUuidEnv);
  std::string saved = old ? old : "";

  ::unsetenv(kSystemUuidEnv);
  CHECK(system_uuid_path() == "/opt/famfs/system_uuid");
  CHECK(system_uuid_path("/x/y") == "/x/y");
  ::setenv(kSystemUuidEnv, "/from/env", 1);
  CHECK(system_uuid_path() == "/from/env");
  CHECK(system_uuid_path("/x/y") == "/x/y");
  ::setenv(kSystemUuidEnv, "", 1);
  CHECK(system_uuid_path() == "/opt/famfs/system_uuid");

  if (old)
    ::setenv(kSystemUuidEnv, saved.c_str(), 1);
  else
    ::unsetenv(kSystemUuidEnv);
}

TEST_CASE("different identity files give different identities", "[identity]") {
  TempDir d;
  CHECK(get_or_create_system_uuid(d / "a") != get_or_create_system_uuid(d / "b"));
}
