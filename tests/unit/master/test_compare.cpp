// master/verify: compare_files (famfs cp -c/--compare) on plain files.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "master/verify.hpp"

using namespace famfs::master;

namespace {

// A file under /dev/shm removed when the test ends.
struct TempFile {
  std::string path;
  explicit TempFile(const std::vector<unsigned char>& bytes) {
    char name[] = "/dev/shm/famfs-test-compare-XXXXXX";
    int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    path = name;
    REQUIRE(::write(fd, bytes.data(), bytes.size()) == ssize_t(bytes.size()));
    ::close(fd);
  }
  ~TempFile() { ::unlink(path.c_str()); }
};

std::vector<unsigned char> pattern(size_t n) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>(i * 7 + (i >> 13));
  return v;
}

} // namespace

TEST_CASE("compare_files: equal, first differing byte, different sizes, errors", "[compare]") {
  const size_t n = (9u << 20) + 5; // more than one buffer
  auto bytes = pattern(n);
  TempFile a(bytes), same(bytes);
  CHECK(compare_files(a.path, same.path).status == VerifyResult::Status::Ok);
  CHECK(compare_files(a.path, same.path).size == n);

  for (size_t at : {size_t(0), size_t(4097), n - 1}) {
    auto other = bytes;
    other[at] ^= 0x5a;
    TempFile b(other);
    VerifyResult r = compare_files(a.path, b.path);
    CHECK(r.status == VerifyResult::Status::Mismatch);
    CHECK(r.offset == at);
  }
  std::vector<unsigned char> shorter(bytes.begin(), bytes.end() - 3);
  TempFile s(shorter);
  VerifyResult r = compare_files(a.path, s.path);
  CHECK(r.status == VerifyResult::Status::Mismatch);
  CHECK(r.offset == n - 3);

  r = compare_files(a.path, a.path + ".missing");
  CHECK(r.status == VerifyResult::Status::Error);
  CHECK(r.message.find(".missing") != std::string::npos);
  r = compare_files("/dev/shm", a.path);
  CHECK(r.status == VerifyResult::Status::Error);
  CHECK(r.message.find("not a regular file") != std::string::npos);
}
