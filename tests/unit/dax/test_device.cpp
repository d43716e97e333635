#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "dax/device.hpp"
#include "dax/mapping.hpp"
#include "helpers.hpp"
#include "meta/error.hpp"

using famfs::Error;
using namespace famfs::dax;
using famfs::test::TempDir;
using famfs::test::make_image;

namespace {
constexpr uint64_t MiB = 1ull << 20;
constexpr uint64_t GiB = 1ull << 30;

// Run `f`, expect famfs::Error with `err`, and return its message.
template <typename F>
std::string error_of(F f, int err) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.err() == err);
    return e.what();
  }
  FAIL("no famfs::Error thrown");
  return {};
}
} // namespace

TEST_CASE("image file opens with its size and 2 MiB alignment", "[device]") {
  TempDir d;
  std::string img = make_image(d / "img", 4 * GiB);
  Device dev = Device::open(img, true, 4 * GiB);
  CHECK(dev.info().kind == DeviceKind::ImageFile);
  CHECK(dev.info().size == 4 * GiB);
  CHECK(dev.info().align == 2 * MiB);
  CHECK(dev.info().path == img);
  CHECK(dev.writable());
  CHECK(dev.fd() >= 0);

  DeviceInfo probed = probe_device(img);
  CHECK(probed.size == 4 * GiB);
  CHECK(probed.kind == DeviceKind::ImageFile);
}

TEST_CASE("a device smaller than min_size is refused with its size and the minimum", "[device]") {
  TempDir d;
  std::string img = make_image(d / "small", 64 * MiB);
  std::string msg = error_of([&] { Device::open(img, false, 4 * GiB); }, EINVAL);
  CHECK_THAT(msg, Catch::Contains(img));
  CHECK_THAT(msg, Catch::Contains("67108864"));
  CHECK_THAT(msg, Catch::Contains("at least 4294967296"));
  // Without a minimum the same file opens.
  CHECK(Device::open(img, false).info().size == 64 * MiB);
}

TEST_CASE("directories, missing paths and non-dax character devices are refused", "[device]") {
  TempDir d;
  std::string msg = error_of([&] { Device::open(d.path(), false); }, EISDIR);
  CHECK_THAT(msg, Catch::Contains("is a directory"));

  msg = error_of([&] { Device::open(d / "nope", true); }, ENOENT);
  CHECK_THAT(msg, Catch::Contains(d / "nope"));
  CHECK_THAT(msg, Catch::Contains("daxctl list"));
  error_of([&] { probe_device(d / "nope"); }, ENOENT);

  msg = error_of([&] { Device::open("/dev/null", false); }, ENODEV);
  CHECK_THAT(msg, Catch::Contains("not a device-dax device"));
}

TEST_CASE("block devices are refused", "[device]") {
  std::string blk;
  for (const auto& e : std::filesystem::directory_iterator("/dev")) {
    struct stat st {};
    if (::stat(e.path().c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
      blk = e.path();
      break;
    }
  }
  if (blk.empty()) {
    WARN("no block device in /dev; skipping");
    return;
  }
  std::string msg = error_of([&] { probe_device(blk); }, ENODEV);
  CHECK_THAT(msg, Catch::Contains("block device"));
}

TEST_CASE("unreadable image files say to run as root", "[device]") {
  TempDir d;
  ::chmod(d.path().c_str(), 0755);
  std::string img = make_image(d / "img", 4 * MiB);
  ::chmod(img.c_str(), 0600);
  // Root reads anything, so check as an unprivileged user in a child process.
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::geteuid() == 0 && ::setresuid(65534, 65534, 65534) != 0) ::_exit(3);
    try {
      Device::open(img, false);
    } catch (const Error& e) {
      bool ok = e.err() == EACCES && std::string(e.what()).find("run as root") != std::string::npos &&
                std::string(e.what()).find(img) != std::string::npos;
      ::_exit(ok ? 0 : 1);
    }
    ::_exit(2);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("mappings are 2 MiB aligned, shared with the file, and unmap themselves", "[mapping]") {
  TempDir d;
  std::string img = make_image(d / "img", 64 * MiB);
  Device dev = Device::open(img, true);
  std::byte* addr = nullptr;
  {
    Mapping m = Mapping::map(dev, true);
    REQUIRE(m.size() == 64 * MiB);
    CHECK(reinterpret_cast<uintptr_t>(m.data()) % (2 * MiB) == 0);
    addr = m.data();
    std::memcpy(m.data() + 5 * MiB + 3, "famfs", 5);
    // MAP_SHARED: the file sees the store.
    char buf[5];
    REQUIRE(::pread(dev.fd(), buf, 5, off_t(5 * MiB + 3)) == 5);
    CHECK(std::memcmp(buf, "famfs", 5) == 0);

    Mapping moved = std::move(m);
    CHECK(m.data() == nullptr);
    CHECK(m.size() == 0);
    CHECK(moved.data() == addr);
    CHECK(moved.cbytes().size() == 64 * MiB);
    // Still mapped after the move.
    unsigned char vec = 0;
    CHECK(::mincore(addr, 4096, &vec) == 0);
  }
  // Gone after the owner is destroyed: mincore reports ENOMEM for unmapped addresses.
  unsigned char vec = 0;
  CHECK(::mincore(addr, 4096, &vec) == -1);
  CHECK(errno == ENOMEM);
}

TEST_CASE("a partial mapping starts at the given device offset", "[mapping]") {
  TempDir d;
  std::string img = make_image(d / "img", 16 * MiB);
  Device dev = Device::open(img, true);
  REQUIRE(::pwrite(dev.fd(), "xyz", 3, off_t(4 * MiB)) == 3);
  Mapping m = Mapping::map(dev, false, 4 * MiB, 2 * MiB);
  CHECK(m.size() == 2 * MiB);
  CHECK(reinterpret_cast<uintptr_t>(m.data()) % (2 * MiB) == 0);
  CHECK(std::memcmp(m.data(), "xyz", 3) == 0);

  error_of([&] { Mapping::map(dev, false, 4 * MiB, 14 * MiB); }, EINVAL); // past the end
  error_of([&] { Mapping::map(dev, false, 4096, 2 * MiB); }, EINVAL);     // misaligned
}

TEST_CASE("a read-only device cannot be mapped writable; read-only mappings refuse stores",
          "[mapping]") {
  TempDir d;
  std::string img = make_image(d / "img", 4 * MiB);
  Device ro = Device::open(img, false);
  std::string msg = error_of([&] { Mapping::map(ro, true); }, EBADF);
  CHECK_THAT(msg, Catch::Contains(img));
  Mapping m = Mapping::map(ro, false);
  // mprotect-style probe: the pages are readable but not writable.
  CHECK(::mprotect(m.data(), 4096, PROT_READ | PROT_WRITE) == -1);
  CHECK(errno == EACCES);
}

TEST_CASE("an odd-sized image maps its exact byte count", "[mapping]") {
  TempDir d;
  std::string img = make_image(d / "img", 3 * MiB + 100);
  Device dev = Device::open(img, false);
  Mapping m = Mapping::map(dev, false);
  CHECK(m.size() == 3 * MiB + 100);
}
