// The image written by upstream famfs (../shared/fixtures/upstream-basic): replay, fsck and the
// file bytes must match its MANIFEST.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "meta/fsck.hpp"
#include "master/random_fill.hpp"
#include "meta/replay.hpp"
#include "meta/superblock.hpp"

using namespace famfs;
namespace fs = std::filesystem;

namespace {

// A temporary directory under /dev/shm, removed on every exit path (the image is 4 GiB sparse).
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/dev/shm/famfs-meta-replay-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp in /dev/shm failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Run argv with `input` on stdin; return its stdout and exit status.
std::pair<std::string, int> run_with_input(std::vector<std::string> argv,
                                           std::span<const std::byte> input) {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]); close(in[1]); close(out[0]); close(out[1]);
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  // sha256sum/tar read all input before writing: write everything, then read.
  const std::byte* p = input.data();
  std::size_t left = input.size();
  while (left > 0) {
    const ssize_t n = write(in[1], p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  close(in[1]);
  std::string result;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) result.append(buf, n);
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {result, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

std::string sha256_of(std::span<const std::byte> bytes) {
  auto [out, rc] = run_with_input({"sha256sum"}, bytes);
  REQUIRE(rc == 0);
  return out.substr(0, out.find(' '));
}

class ReadOnlyMap {
 public:
  explicit ReadOnlyMap(const fs::path& p) {
    const int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + p.string());
    struct stat st{};
    fstat(fd, &st);
    size_ = static_cast<std::size_t>(st.st_size);
    void* m = mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) throw std::runtime_error("cannot map " + p.string());
    p_ = static_cast<const std::byte*>(m);
  }
  ~ReadOnlyMap() { munmap(const_cast<std::byte*>(p_), size_); }
  ReadOnlyMap(const ReadOnlyMap&) = delete;
  ReadOnlyMap& operator=(const ReadOnlyMap&) = delete;
  std::span<const std::byte> span() const { return {p_, size_}; }

 private:
  const std::byte* p_ = nullptr;
  std::size_t size_ = 0;
};

struct ManifestEntry {
  bool dir = false;
  std::string path;
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t size = 0, offset = 0, len = 0;
};
struct ManifestContent {
  std::string path;
  uint64_t size = 0;
  std::optional<uint64_t> seed;
  std::string sha256;
};

// The MANIFEST's two tables: "Log, in order" and "File contents".
void parse_manifest(const fs::path& p, std::vector<ManifestEntry>& log,
                    std::vector<ManifestContent>& contents) {
  std::ifstream in(p);
  REQUIRE(in);
  enum { None, Log, Contents } section = None;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Log, in order", 0) == 0) { section = Log; continue; }
    if (line.rfind("File contents", 0) == 0) { section = Contents; continue; }
    if (line.rfind("  ", 0) != 0) continue;
    std::istringstream s(line);
    if (section == Log) {
      std::string kind;
      s >> kind;
      ManifestEntry e;
      if (kind == "mkdir") {
        std::string mode, k1, k2;
        e.dir = true;
        s >> e.path >> mode >> k1 >> e.uid >> k2 >> e.gid;
        e.mode = static_cast<uint32_t>(std::stoul(mode, nullptr, 8));
      } else if (kind == "file") {
        std::string k, mode, off, len;
        s >> e.path >> k >> e.size >> k >> mode >> k >> off >> k >> len;
        e.mode = static_cast<uint32_t>(std::stoul(mode, nullptr, 8));
        e.offset = std::stoull(off, nullptr, 16);
        e.len = std::stoull(len, nullptr, 16);
      } else {
        continue;
      }
      log.push_back(e);
    } else if (section == Contents) {
      ManifestContent c;
      std::string seed;
      s >> c.path >> c.size >> seed >> c.sha256;
      if (c.sha256.size() != 64) continue; // the header line
      if (seed != "-") c.seed = std::stoull(seed);
      contents.push_back(c);
    }
  }
}

} // namespace

TEST_CASE("upstream fixture: replay, fsck and bytes match the MANIFEST", "[fixture]") {
  const char* env = std::getenv("FAMFS_FIXTURES_DIR");
  REQUIRE(env != nullptr);
  const fs::path dir = fs::path(env) / "upstream-basic";
  REQUIRE(fs::exists(dir / "MANIFEST"));

  std::vector<ManifestEntry> log;
  std::vector<ManifestContent> contents;
  parse_manifest(dir / "MANIFEST", log, contents);
  REQUIRE(log.size() == 8);
  REQUIRE(contents.size() == 5);

  TempDir tmp;
  const std::string archive = (dir / "upstream-basic.img.tar.xz").string();
  auto [out, rc] = run_with_input({"tar", "-xSJf", archive, "-C", tmp.path().string()}, {});
  INFO(out);
  REQUIRE(rc == 0);
  ReadOnlyMap img(tmp.path() / "upstream-basic.img");
  const std::span<const std::byte> dev = img.span();
  REQUIRE(dev.size() == 4ull << 30);

  Uuid master{};
  REQUIRE(uuid_from_string("f2eee19b-6c47-4dfd-af58-fc1b0113599a", master));
  const omf::Superblock sb = read_superblock(dev);
  REQUIRE(check_superblock(sb) == SbStatus::Valid);
  CHECK(role_of(sb, &master) == Role::Master);
  const Geometry g = geometry_of(sb, dev);
  CHECK(g.log_len == 8ull << 20);

  // Replay: every MANIFEST entry, in log order.
  Namespace ns(g, true);
  Replayer r(dev, CacheOps{});
  const ReplayReport rep = r.play(ns);
  CHECK(rep.to == 8);
  CHECK(rep.errors() == 0);
  CHECK(rep.new_dirs == 3);
  CHECK(rep.new_files == 5);
  REQUIRE(rep.created.size() == log.size());
  for (std::size_t i = 0; i < log.size(); ++i) {
    const ManifestEntry& m = log[i];
    INFO(m.path);
    const std::optional<Ino> ino = ns.resolve(m.path);
    REQUIRE(ino);
    CHECK(*ino == rep.created[i]);
    const Inode* n = ns.get(*ino);
    CHECK(n->log_index == i);
    CHECK(ns.path_of(*ino) == m.path);
    CHECK(n->is_dir == m.dir);
    CHECK(n->mode == m.mode);
    if (m.dir) {
      CHECK(n->uid == m.uid);
      CHECK(n->gid == m.gid);
    } else {
      CHECK(n->size == m.size);
      CHECK(n->fmap.kind == Fmap::Kind::Simple);
      CHECK(n->fmap.extents == std::vector<Extent>{{m.offset, m.len}});
    }
  }

  // fsck figures as upstream printed them.
  const FsckReport f = run_fsck(dev, &master, CacheOps{});
  INFO((f.problems.empty() ? std::string() : f.problems.front()));
  CHECK(f.clean());
  CHECK(f.role == Role::Master);
  CHECK(f.bitmap.entries_used == 8);
  CHECK(f.geometry.slots() == 15420);
  CHECK(f.bitmap.bad_entries == 0);
  CHECK(f.bitmap.files == 5);
  CHECK(f.bitmap.directories == 3);
  CHECK(f.bitmap.collisions == 0);
  // Upstream's "allocated" includes the superblock and log AUs; ours counts the files'.
  CHECK(f.bitmap.alloc_bytes + g.data_start() == 23068672);
  CHECK(f.capacity_bytes == 4ull << 30);
  CHECK(f.free_bytes == (4ull << 30) - 23068672);

  // The bytes, through the replayed maps.
  for (const ManifestContent& c : contents) {
    INFO(c.path);
    const Inode* n = ns.get(*ns.resolve(c.path));
    REQUIRE(n->size == c.size);
    const auto run = n->fmap.resolve(0);
    REQUIRE(run);
    REQUIRE(run->len >= c.size);
    const std::span<const std::byte> bytes = dev.subspan(run->dev_offset, c.size);
    if (c.seed) CHECK(random_verify(bytes, *c.seed) == std::nullopt);
    CHECK(sha256_of(bytes) == c.sha256);
  }
}
