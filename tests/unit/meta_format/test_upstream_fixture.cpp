// Interoperability: the image in ../shared/fixtures/upstream-basic was written by the upstream
// famfs library. Our readers must accept it, and our builders must reproduce its log entries
// byte for byte.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "helpers.hpp"
#include "meta/fmap.hpp"
#include "meta/geometry.hpp"
#include "meta/log.hpp"
#include "meta/path.hpp"
#include "master/random_fill.hpp"
#include "meta/superblock.hpp"

using namespace famfs;
namespace fs = std::filesystem;

namespace {

std::string fixtures_dir() {
  if (const char* e = std::getenv("FAMFS_FIXTURES_DIR")) return e;
  return FAMFS_FIXTURES_DIR_DEFAULT; // set by meson: <source>/../shared/fixtures
}

// The image extracted (sparse) into a private temporary directory, mapped read-only.
class FixtureImage {
 public:
  FixtureImage() {
    const fs::path tarball = fs::path(fixtures_dir()) / "upstream-basic" / "upstream-basic.img.tar.xz";
    if (!fs::exists(tarball)) throw std::runtime_error("fixture missing: " + tarball.string());
    char tmpl[] = "/tmp/famfs-meta-format-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    const std::string cmd = "tar -xSJf '" + tarball.string() + "' -C '" + dir_.string() + "'";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot extract " + tarball.string());
    const fs::path img = dir_ / "upstream-basic.img";
    const int fd = open(img.c_str(), O_RDONLY);
    if (fd < 0) throw std::runtime_error("cannot open " + img.string());
    struct stat st {};
    fstat(fd, &st);
    size_ = static_cast<std::size_t>(st.st_size);
    void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) throw std::runtime_error("cannot map " + img.string());
    base_ = static_cast<const std::byte*>(p);
  }
  ~FixtureImage() {
    if (base_) munmap(const_cast<std::byte*>(base_), size_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  FixtureImage(const FixtureImage&) = delete;
  FixtureImage& operator=(const FixtureImage&) = delete;
  std::span<const std::byte> span() const { return {base_, size_}; }

 private:
  fs::path dir_;
  const std::byte* base_ = nullptr;
  std::size_t size_ = 0;
};

struct ExpectedFile {
  const char* path;
  uint64_t size;
  uint32_t mode;
  uint64_t offset;
  uint64_t len;
  uint64_t seed; // 0: not randomised
};

} // namespace

TEST_CASE("upstream fixture: superblock, header, entries, contents", "[fixture]") {
  FixtureImage img;
  const auto dev = img.span();
  REQUIRE(dev.size() == 4ull << 30);

  const omf::Superblock sb = read_superblock(dev);
  REQUIRE(check_superblock(sb) == SbStatus::Valid);
  CHECK(sb.ts_log_len == 8ull << 20);
  CHECK(sb.ts_daxdev.dd_size == 4ull << 30);
  CHECK(std::string(sb.ts_daxdev.dd_daxdev, strnlen(sb.ts_daxdev.dd_daxdev, 64)) == "/dev/dax0.0");
  Uuid master{}, other{};
  REQUIRE(uuid_from_string("f2eee19b-6c47-4dfd-af58-fc1b0113599a", master));
  CHECK(uuid_to_string(sb.ts_system_uuid) == "f2eee19b-6c47-4dfd-af58-fc1b0113599a");
  CHECK(role_of(sb, &master) == Role::Master);
  CHECK(role_of(sb, &other) == Role::Client);

  const Geometry g = geometry_of(sb, dev);
  CHECK(g.device_size == 4ull << 30);
  CHECK(g.data_start() == 0xA00000);

  const omf::LogHeader h = read_log_header(dev);
  REQUIRE(check_log_header(h, sb.ts_log_len) == LogHeaderStatus::Ok);
  REQUIRE(h.famfs_log_next_index == 8);
  CHECK(h.famfs_log_crc == make_log_header(sb.ts_log_len).famfs_log_crc);

  const char* dirs[] = {"data", "data/set1", "logs"};
  const uint32_t dir_modes[] = {0755, 0755, 0700};
  for (uint64_t i = 0; i < 3; ++i) {
    INFO("slot " << i);
    const auto e = read_valid_entry(dev, i, CacheOps{});
    REQUIRE(e);
    REQUIRE(e->famfs_log_entry_type == omf::kLogMkdir);
    CHECK(relpath_field(e->famfs_md.md_relpath) == dirs[i]);
    CHECK(e->famfs_md.md_mode == dir_modes[i]);
    // Our builder reproduces upstream's bytes exactly.
    omf::LogEntry mine = make_mkdir_entry(dirs[i], dir_modes[i], 0, 0);
    seal_log_entry(mine, i);
    CHECK(famfs::test::bytes_of(mine) == famfs::test::bytes_of(*e));
  }

  const ExpectedFile files[] = {
      {"data/a.bin", 4096, 0644, 0xa00000, 0x200000, 1},
      {"data/set1/b.bin", 307200, 0600, 0xc00000, 0x200000, 2},
      {"data/set1/c.bin", 100, 0644, 0xe00000, 0x200000, 3},
      {"readme.txt", 49, 0444, 0x1000000, 0x200000, 0},
      {"big.bin", 2097155, 0644, 0x1200000, 0x400000, 4},
  };
  for (uint64_t k = 0; k < 5; ++k) {
    const ExpectedFile& x = files[k];
    const uint64_t slot = 3 + k;
    INFO("slot " << slot << " " << x.path);
    const auto e = read_valid_entry(dev, slot, CacheOps{});
    REQUIRE(e);
    REQUIRE(e->famfs_log_entry_type == omf::kLogFile);
    const omf::FileMeta& fm = e->famfs_fm;
    CHECK(relpath_field(fm.fm_relpath) == x.path);
    CHECK(normalise_relpath(relpath_field(fm.fm_relpath)) == std::string(x.path));
    CHECK(fm.fm_size == x.size);
    CHECK(fm.fm_mode == x.mode);
    const DecodedFmap d = fmap_from_log(fm.fm_fmap);
    CHECK_FALSE(validate_fmap(d, fm.fm_size, g.device_size, g.log_len, g.alloc_unit));
    REQUIRE(d.fmap.extents.size() == 1);
    CHECK(d.fmap.extents[0] == Extent{x.offset, x.len});

    FileEntryParams p;
    p.relpath = x.path;
    p.size = x.size;
    p.mode = x.mode;
    p.flags = fm.fm_flags;
    p.fmap = d.fmap;
    omf::LogEntry mine = make_file_entry(p);
    seal_log_entry(mine, slot);
    CHECK(famfs::test::bytes_of(mine) == famfs::test::bytes_of(*e));

    const auto run = d.fmap.resolve(0);
    REQUIRE(run);
    REQUIRE(run->len >= x.size);
    const auto content = dev.subspan(run->dev_offset, x.size);
    if (x.seed) {
      CHECK_FALSE(random_verify(content, x.seed));
      CHECK(random_verify(content, x.seed + 100).has_value());
    } else {
      CHECK(std::string(reinterpret_cast<const char*>(content.data()), 6) == "famfs ");
    }
  }
  CHECK_FALSE(read_valid_entry(dev, 8, CacheOps{})); // never written
}
