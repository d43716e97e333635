// Read-side commands that work on every host (master or client): verify, getmap, check,
// chkread, flush, status. They read through the mount (and the daemon's user.famfs.* xattrs), never
// the writer lock.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>

#include "cli/master_common.hpp"
#include "cli/master_ops.hpp"
#include "cli/util.hpp"
#include "dax/cache.hpp"
#include "dax/device.hpp"
#include "dax/mapping.hpp"
#include "dax/identity.hpp"
#include "dax/mounts.hpp"
#include "master/check.hpp"
#include "master/copy_engine.hpp"
#include "master/paths.hpp"
#include "master/reports.hpp"
#include "master/verify.hpp"
#include "meta/error.hpp"
#include "meta/log.hpp"
#include "meta/superblock.hpp"
#include "proto/fmap_text.hpp"
#include "proto/json_text.hpp"
#include "proto/unique_fd.hpp"
#include "proto/xattr.h"

namespace famfs::cli::master {

namespace {

using XFmap = famfs::proto::FmapText;
using proto::Json;
namespace fm = famfs::master;

std::optional<XFmap> parse_xfmap(const std::string& text, std::string* why) {
  return famfs::proto::parse_fmap_text(text, why);
}

int verify_one(const std::string& file, uint64_t seed, bool quiet, std::mutex& out) {
  fm::VerifyResult r = fm::verify_file(file, seed);
  std::lock_guard<std::mutex> g(out);
  switch (r.status) {
    case fm::VerifyResult::Status::Error:
      print_error("famfs verify", r.message);
      return 1;
    case fm::VerifyResult::Status::Mismatch:
      std::fprintf(stderr, "Verify fail: %s at offset %llu of %llu bytes\n", file.c_str(),
                   (unsigned long long)r.offset, (unsigned long long)r.size);
      return 1;
    case fm::VerifyResult::Status::Ok:
      break;
  }
  if (!quiet)
    std::printf("Success: verified %llu bytes in file %s\n", (unsigned long long)r.size, file.c_str());
  return 0;
}

} // namespace

// =============================================================================================
int run_verify(const VerifyOpts& o) {
  const std::string prog = "famfs verify";
  try {
    std::mutex out;
    if (o.multi.empty()) {
      if (o.file.empty())
        throw Error(EINVAL, "no file given: famfs verify -f FILE -S SEED (or -m FILE,SEED ...)");
      uint64_t seed = o.seed.empty() ? 0 : parse_u64_arg(o.seed, "-S/--seed");
      return verify_one(o.file, seed, o.quiet, out);
    }
    if (!o.file.empty() || !o.seed.empty())
      throw Error(EINVAL, "-m/--multi cannot be combined with -f or -S; give each file as -m FILE,SEED");
    std::vector<std::pair<std::string, uint64_t>> items;
    for (const auto& m : o.multi) {
      auto parts = split_commas(m);
      if (parts.size() != 2 || parts[0].empty())
        throw Error(EINVAL, "-m/--multi " + quote(m) + ": expected FILE,SEED");
      items.emplace_back(parts[0], parse_u64_arg(parts[1], ("-m/--multi " + m).c_str()));
    }
    long ncpu = ::sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = parse_threads_arg(o.threads, ncpu > 0 ? unsigned(ncpu) : 4);
    std::atomic<uint64_t> errs{0};
    fm::parallel_for(items.size(), threads, [&](size_t i) {
      if (verify_one(items[i].first, items[i].second, o.quiet, out)) errs.fetch_add(1);
    });
    std::printf("Verify complete for %zu files with %llu errs\n", items.size(),
                (unsigned long long)errs.load());
    return count_rc(errs.load());
  } catch (const Error& e) {
    print_error(prog, e.what());
    return 1;
  }
}

// =============================================================================================
// getmap: upstream's output and exit codes (spec B§8.4), from the user.famfs.fmap xattr.
namespace {

void print_fmap(const std::string& f, const XFmap& x) {
  std::printf("File:     %s\n", f.c_str());
  std::printf("\tsize:    %llu\n", (unsigned long long)x.size);
  if (x.fmap.kind == Fmap::Kind::Simple) {
    std::printf("\textents: %zu\n", x.fmap.extents.size());
  } else {
    std::printf("\textents: 1\n");
    std::printf("Interleave_Param chunk_size: %llu\n", (unsigned long long)x.fmap.chunk_size);
    std::printf("Interleaved extent has %zu strips:\n", x.fmap.extents.size());
  }
  for (const auto& e : x.fmap.extents)
    std::printf("\t\t%llx\t%llu\n", (unsigned long long)e.offset, (unsigned long long)e.len);
}

// getmap --json: one object per file (schema in famfs(8)).
Json fmap_json(const std::string& f, const XFmap& x) {
  Json j;
  j["file"] = f;
  j["exit_code"] = 0;
  j["size"] = x.size;
  bool il = x.fmap.kind == Fmap::Kind::Interleave;
  j["extent_type"] = il ? "interleave" : "simple";
  if (il) j["chunk_size"] = x.fmap.chunk_size;
  Json ext = Json::array();
  for (const auto& e : x.fmap.extents) ext.push_back(Json{{"offset", e.offset}, {"length", e.len}});
  j[il ? "strips" : "extents"] = std::move(ext);
  return j;
}

// The outcome of one file: its exit code (as upstream) and what to say.
struct GetmapResult {
  int rc = 0;
  std::string message;      // rc != 0
  bool message_stdout = false; // upstream prints some of these on stdout
  std::optional<XFmap> map; // rc == 0
};

GetmapResult getmap_result(const std::string& f) {
  struct stat st{};
  if (::stat(f.c_str(), &st) != 0)
    return {EBADF, "famfs getmap: " + f + ": no such file (" + errno_text(errno) + ")", false, {}}; // 9
  if (!S_ISREG(st.st_mode)) return {EISDIR, "famfs getmap: " + f + " is not a regular file", false, {}};
  auto mount = dax::famfs_mount_containing(f);
  if (mount) {
    try {
      fm::check_trusted_mount(mount->mountpoint, mount->options, ::geteuid());
    } catch (const Error& e) {
      return {1, std::string("famfs getmap: ") + e.what(), false, {}};
    }
  }
  int err = 0;
  auto text = get_xattr(f, FAMFS_XATTR_FMAP, &err);
  if (!text) {
    if (!mount) return {1, "famfs getmap: file (" + f + ") not in famfs", false, {}};
    return {2, "famfs_getmap: file (" + f + ") is famfs, but has no map", true, {}};
  }
  std::string why;
  auto x = parse_xfmap(*text, &why);
  if (!x) return {2, "famfs_getmap: file (" + f + ") is famfs, but its map is unreadable (" + why + ")", true, {}};
  return {0, {}, false, std::move(x)};
}

// One file of getmap, printed as upstream (or added to `json`); its exit code.
int getmap_one(const std::string& f, bool quiet, Json* json) {
  GetmapResult r = getmap_result(f);
  if (json) {
    if (r.rc == 0) {
      json->push_back(fmap_json(f, *r.map));
    } else {
      json->push_back(Json{{"file", f}, {"exit_code", r.rc}, {"error", r.message}});
      if (!quiet) std::fprintf(stderr, "%s\n", r.message.c_str());
    }
    return r.rc;
  }
  if (r.rc != 0) {
    if (!quiet) std::fprintf(r.message_stdout ? stdout : stderr, "%s\n", r.message.c_str());
    return r.rc;
  }
  if (!quiet) print_fmap(f, *r.map);
  std::printf("famfs_getmap: good file %s\n", f.c_str());
  return 0;
}

} // namespace

int run_getmap(const GetmapOpts& o) {
  if (o.files.empty()) {
    print_error("famfs getmap", "no file given: famfs getmap [-q] [-c] [--json] FILE...");
    return EINVAL; // 22
  }
  Json arr = Json::array();
  Json* json = o.json ? &arr : nullptr;
  int first_rc = 0;
  for (const auto& f : o.files) {
    int rc = getmap_one(f, o.quiet, json);
    if (rc && !first_rc) first_rc = rc;
    if (rc && !o.cont) break;
  }
  if (json) std::printf("%s\n", proto::json_text(arr, 2).c_str());
  return first_rc;
}

// =============================================================================================
// check: every file's served map against the log (src/master/check.hpp); upstream's exit code.
int run_check(const CheckOpts& o) {
  CliEvents ev("famfs check", o.verbose);
  if (o.path.empty()) {
    ev.error("no mount point given: famfs check [-v] MOUNTPOINT");
    return EINVAL; // 22, as upstream
  }
  try {
    MountInfo m = fm::mount_of_existing(o.path);
    fm::CheckReport r = fm::check_mount(m, ev);
    if (!o.quiet)
      std::printf("famfs check: %llu files of the log of %s: %llu good, %llu not mapped, "
                  "%llu differ from the log%s%s\n",
                  (unsigned long long)r.files, m.mpt.c_str(), (unsigned long long)r.good,
                  (unsigned long long)r.unmapped, (unsigned long long)r.mismatched,
                  r.superblock_bad ? "; superblock bad" : "", r.log_bad ? "; log bad" : "");
    return r.exit_code();
  } catch (const Error& e) {
    ev.error(e.what());
    return 1;
  }
}

// =============================================================================================
// Device mappings for commands that touch a file's device range (flush, chkread).
namespace {

struct DevMap {
  dax::Device dev;
  dax::Mapping map;
};

DevMap& device_map(std::map<std::string, std::unique_ptr<DevMap>>& cache, const std::string& device) {
  auto it = cache.find(device);
  if (it != cache.end()) return *it->second;
  dax::Device d = dax::Device::open(device, false);
  dax::Mapping m = dax::Mapping::map(d, false);
  auto p = std::make_unique<DevMap>(DevMap{std::move(d), std::move(m)});
  DevMap& ref = *p;
  cache.emplace(device, std::move(p));
  return ref;
}

XFmap file_fmap(const std::string& f) {
  int err = 0;
  auto text = get_xattr(f, FAMFS_XATTR_FMAP, &err);
  if (!text)
    throw Error(err, quote(f) + " has no famfs map (" + errno_text(err) +
                         "): is it a file in a famfs mount?");
  std::string why;
  auto x = parse_xfmap(*text, &why);
  if (!x) throw Error(EIO, "the famfs map of " + quote(f) + " is unreadable: " + why);
  return *x;
}

// The device of the (trusted) famfs mount holding `f`.
std::string file_device(const std::string& f) { return fm::mount_of_existing(f).device; }

// Visit each device run of [0, size) of the file.
template <typename Fn>
void for_each_run(const XFmap& x, uint64_t dev_size, Fn fn) {
  uint64_t off = 0;
  while (off < x.size) {
    auto run = x.fmap.resolve(off);
    if (!run || !run->len) throw Error(EIO, "the file map ends before the file does");
    uint64_t n = std::min<uint64_t>(run->len, x.size - off);
    if (run->dev_offset > dev_size || n > dev_size - run->dev_offset)
      throw Error(EIO, "the file map reaches past the end of the device");
    fn(off, run->dev_offset, n);
    off += n;
  }
}

} // namespace

int run_flush(const FlushOpts& o) {
  const std::string prog = "famfs flush";
  if (o.files.empty()) {
    print_error(prog, "no file given: famfs flush [-v] FILE...");
    return 1;
  }
  std::map<std::string, std::unique_ptr<DevMap>> maps;
  uint64_t errs = 0;
  for (const auto& f : o.files) {
    try {
      XFmap x = file_fmap(f);
      DevMap& dm = device_map(maps, file_device(f));
      uint64_t runs = 0;
      for_each_run(x, dm.map.size(), [&](uint64_t, uint64_t dev_off, uint64_t n) {
        // Write back and drop the lines: later loads see what other hosts stored.
        dax::invalidate_range(dm.map.data() + dev_off, n);
        ++runs;
      });
      dax::store_fence();
      if (o.verbose)
        std::printf("famfs flush: %s: flushed %llu bytes in %llu device range%s (%s)\n", f.c_str(),
                    (unsigned long long)x.size, (unsigned long long)runs, runs == 1 ? "" : "s",
                    dax::flush_instruction_name());
    } catch (const Error& e) {
      print_error(prog, e.what());
      ++errs;
    }
  }
  if (errs) std::printf("famfs flush: %llu errors were detected\n", (unsigned long long)errs);
  return count_rc(errs);
}

// =============================================================================================
namespace {

void dump_superblock(const char* how, const unsigned char* p, size_t n) {
  std::printf("superblock by %s\n", how);
  if (n < sizeof(omf::Superblock)) {
    std::printf("  (only %zu bytes)\n", n);
    return;
  }
  omf::Superblock sb;
  std::memcpy(&sb, p, sizeof sb);
  std::printf("  magic:        0x%llx\n", (unsigned long long)sb.ts_magic);
  std::printf("  version:      %llu\n", (unsigned long long)sb.ts_version);
  std::printf("  log offset:   0x%llx\n", (unsigned long long)sb.ts_log_offset);
  std::printf("  log len:      0x%llx\n", (unsigned long long)sb.ts_log_len);
  std::printf("  alloc unit:   0x%llx\n", (unsigned long long)sb.ts_alloc_unit);
  std::printf("  OMF:          %u.%u\n", sb.ts_omf_ver_major, sb.ts_omf_ver_minor);
  std::printf("  fs uuid:      %s\n", uuid_to_string(sb.ts_uuid).c_str());
  std::printf("  system uuid:  %s\n", uuid_to_string(sb.ts_system_uuid).c_str());
  std::printf("  crc:          0x%llx (%s)\n", (unsigned long long)sb.ts_crc,
              sb_status_text(check_superblock(sb)));
  std::printf("  device size:  %llu\n", (unsigned long long)sb.ts_daxdev.dd_size);
}

void dump_log(const char* how, const unsigned char* p, size_t n) {
  std::printf("Log by %s\n", how);
  if (n < sizeof(omf::LogHeader)) {
    std::printf("  (only %zu bytes)\n", n);
    return;
  }
  omf::LogHeader h;
  std::memcpy(&h, p, sizeof h);
  std::printf("  magic:        0x%llx\n", (unsigned long long)h.famfs_log_magic);
  std::printf("  len:          0x%llx\n", (unsigned long long)h.famfs_log_len);
  std::printf("  last index:   %llu\n", (unsigned long long)h.famfs_log_last_index);
  std::printf("  crc:          0x%llx\n", (unsigned long long)h.famfs_log_crc);
  std::printf("  next seqnum:  %llu\n", (unsigned long long)h.famfs_log_next_seqnum);
  std::printf("  next index:   %llu\n", (unsigned long long)h.famfs_log_next_index);
}

void hex_dump(const char* title, const unsigned char* p, size_t n) {
  std::printf("%s\n", title);
  for (size_t i = 0; i < n; ++i) std::printf("%02x%s", p[i], (i % 16 == 15 || i + 1 == n) ? "\n" : " ");
}

} // namespace

namespace {

// The whole file by read().
std::vector<unsigned char> read_all(int fd, size_t size, const std::string& name) {
  std::vector<unsigned char> buf(size);
  size_t got = 0;
  while (got < size) {
    ssize_t r = ::pread(fd, buf.data() + got, size - got, off_t(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      throw Error(r < 0 ? errno : EIO, "reading " + quote(name) + " failed at offset " + std::to_string(got));
    got += size_t(r);
  }
  std::printf("read tried=%zu got=%zu\n", size, got);
  return buf;
}

// The second view: mmap of the file; if the mount does not allow it, the file's bytes in the
// device mapping (what a zero-copy reader sees). *how names the view.
std::vector<unsigned char> mapped_view(int fd, size_t size, const std::string& name, const char** how) {
  std::vector<unsigned char> mbuf(size);
  *how = "mmap";
  void* m = size ? ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  if (m != MAP_FAILED) {
    std::memcpy(mbuf.data(), m, size);
    ::munmap(m, size);
    return mbuf;
  }
  *how = "device map";
  XFmap x = file_fmap(name);
  std::map<std::string, std::unique_ptr<DevMap>> maps;
  DevMap& dm = device_map(maps, file_device(name));
  x.size = std::min<uint64_t>(x.size, size);
  for_each_run(x, dm.map.size(), [&](uint64_t off, uint64_t dev_off, uint64_t n) {
    dax::invalidate_range(dm.map.data() + dev_off, n);
    std::memcpy(mbuf.data() + off, dm.map.data() + dev_off, n);
  });
  return mbuf;
}

void dump_views(const ChkreadOpts& o, const char* how, const std::vector<unsigned char>& mbuf,
                const std::vector<unsigned char>& rbuf) {
  size_t size = rbuf.size();
  if (o.superblock) {
    dump_superblock(how, mbuf.data(), size);
    dump_superblock("read", rbuf.data(), size);
    hex_dump((std::string("Superblock by ") + how).c_str(), mbuf.data(), std::min<size_t>(32, size));
    hex_dump("Superblock by read", rbuf.data(), std::min<size_t>(32, size));
  }
  if (o.log) {
    dump_log(how, mbuf.data(), size);
    dump_log("read", rbuf.data(), size);
    hex_dump((std::string("Log by ") + how).c_str(), mbuf.data(), std::min<size_t>(64, size));
    hex_dump("Log by read", rbuf.data(), std::min<size_t>(64, size));
  }
}

} // namespace

int run_chkread(const ChkreadOpts& o) {
  const std::string prog = "famfs chkread";
  try {
    if (o.file.empty()) throw Error(EINVAL, "no file given: famfs chkread [-s|-l] FILE");
    if (auto m = dax::famfs_mount_containing(o.file))
      fm::check_trusted_mount(m->mountpoint, m->options, ::geteuid());
    famfs::proto::UniqueFd fd(::open(o.file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw Error(errno, "cannot open " + quote(o.file) + ": " + errno_text(errno));
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
      throw Error(EINVAL, quote(o.file) + " is not a regular file");
    size_t size = size_t(st.st_size);
    std::vector<unsigned char> rbuf = read_all(fd.get(), size, o.file);
    const char* how = nullptr;
    std::vector<unsigned char> mbuf = mapped_view(fd.get(), size, o.file, &how);
    dump_views(o, how, mbuf, rbuf);
    if (std::memcmp(rbuf.data(), mbuf.data(), size) != 0) {
      size_t i = 0;
      while (i < size && rbuf[i] == mbuf[i]) ++i;
      std::fprintf(stderr, "Read and %s miscompare (first difference at offset %zu)\n", how, i);
      return 1;
    }
    std::printf("Read and %s match\n", how);
    return 0;
  } catch (const Error& e) {
    print_error(prog, e.what());
    return 1;
  }
}


} // namespace famfs::cli::master
