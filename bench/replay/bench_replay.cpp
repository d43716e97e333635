// Replay benchmark: builds famfs logs in memory and times full replay, incremental replay of k
// new entries, and build_bitmap; then measures the Namespace's resident bytes per file.
//
//   bench_replay [small] [large] [memory] [curve] [quick]   (default: small large memory)
//
// Baselines measured in the same run over the same entries: a CRC-only pass (copy each slot
// and check seqnum and CRC, as replay does, with crc32_of), and the same pass with zlib's
// crc32 (the CRC replay used before libdeflate). "curve" replays logs from 15,420 to 986,894
// entries; "quick" takes fewer repetitions. Lines starting with RESULT are for bench/run_all.
//
// Devices are anonymous MAP_NORESERVE mappings: only the superblock region and the log are
// ever touched, so a 2 TiB "device" (room for ~987,000 files of one 2 MiB AU each) is cheap.
#include <malloc.h>
#include <sys/mman.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <zlib.h>

#include "meta/append.hpp"
#include "meta/bitmap.hpp"
#include "meta/crc.hpp"
#include "meta/format.hpp"
#include "meta/log.hpp"
#include "meta/replay.hpp"
#include "meta/superblock.hpp"

using namespace famfs;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// This thread's CPU time: on a shared machine wall time mostly measures the neighbours.
double cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

struct Timer {
  Clock::time_point w0 = Clock::now();
  double c0 = cpu_ms();
  double wall() const { return ms_since(w0); }
  double cpu() const { return cpu_ms() - c0; }
};

class Device {
 public:
  Device(uint64_t size, uint64_t log_len) : size_(size) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap of " + std::to_string(size) + " failed");
    p_ = static_cast<std::byte*>(p);
    SuperblockParams sp;
    sp.log_len = log_len;
    sp.device_size = size;
    sp.fs_uuid = uuid_random();
    sp.dev_uuid = uuid_random();
    sp.system_uuid = uuid_random();
    sp.device_path = "/dev/bench0.0";
    format_device(span(), sp, CacheOps{});
    geo = geometry_of(read_superblock(span()), span());
  }
  ~Device() { munmap(p_, size_); }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  std::span<std::byte> span() { return {p_, size_}; }
  void set_next_index(uint64_t n) {
    std::memcpy(p_ + omf::kLogOffset + offsetof(omf::LogHeader, famfs_log_next_seqnum), &n, 8);
    std::memcpy(p_ + omf::kLogOffset + offsetof(omf::LogHeader, famfs_log_next_index), &n, 8);
  }
  Geometry geo;

 private:
  std::byte* p_;
  uint64_t size_;
};

// Fill `entries` slots: `ndirs` directories first, then files spread over them round-robin,
// one AU each, allocated contiguously (what the CLI would have written).
void fill_log(Device& dev, uint64_t entries, uint64_t ndirs) {
  LogWriter w(dev.span(), dev.geo, CacheOps{});
  char name[80];
  for (uint64_t d = 0; d < ndirs; ++d) {
    std::snprintf(name, sizeof name, "dir%05llu", static_cast<unsigned long long>(d));
    w.append(make_mkdir_entry(name, 0755, 1000, 1000));
  }
  FileEntryParams fp;
  fp.size = 1500000;
  fp.uid = fp.gid = 1000;
  fp.fmap.kind = Fmap::Kind::Simple;
  fp.fmap.extents = {{0, omf::kAllocUnit}};
  uint64_t off = dev.geo.data_start();
  for (uint64_t f = 0; ndirs + f < entries; ++f) {
    std::snprintf(name, sizeof name, "dir%05llu/file%07llu.dat",
                  static_cast<unsigned long long>(f % ndirs), static_cast<unsigned long long>(f));
    fp.relpath = name;
    fp.fmap.extents[0].offset = off;
    off += omf::kAllocUnit;
    w.append(make_file_entry(fp));
  }
}

struct Timing {
  double wall_ms = 1e18;
  double cpu_ms = 1e18;
  void take(const Timer& t) {
    wall_ms = std::min(wall_ms, t.wall());
    cpu_ms = std::min(cpu_ms, t.cpu());
  }
};

struct ReplayTiming {
  Timing t;
  uint64_t entries;
};

ReplayTiming time_full_replay(Device& dev, int reps) {
  Timing best;
  uint64_t n = 0;
  for (int i = 0; i < reps; ++i) {
    Namespace ns(dev.geo, true);
    Replayer r(dev.span(), CacheOps{});
    const Timer t;
    const ReplayReport rep = r.play(ns);
    best.take(t);
    n = rep.to;
    if (rep.errors() != 0) throw std::runtime_error("benchmark log replayed with errors");
  }
  return {best, n};
}

// The baselines: what replay must do at least for each entry (copy it out of the log, check
// seqnum and CRC), with the CRC replay uses and with zlib's.
enum class CrcImpl { Ours, Zlib };

Timing time_crc_pass(Device& dev, uint64_t n, int reps, CrcImpl impl) {
  Timing best;
  const std::span<const std::byte> span = dev.span();
  for (int i = 0; i < reps; ++i) {
    uint64_t valid = 0;
    const Timer t;
    for (uint64_t slot = 0; slot < n; ++slot) {
      const omf::LogEntry e = read_log_entry(span, slot);
      const std::size_t len = offsetof(omf::LogEntry, famfs_log_entry_crc);
      const uint32_t crc = impl == CrcImpl::Ours
                               ? crc32_of(&e, len)
                               : static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(&e),
                                                             static_cast<uInt>(len)));
      valid += e.famfs_log_entry_seqnum == slot && e.famfs_log_entry_crc == crc;
    }
    best.take(t);
    if (valid != n) throw std::runtime_error("CRC pass found invalid entries");
  }
  return best;
}

// Replay all but k entries, then make k more visible and time only that call.
Timing time_incremental(Device& dev, uint64_t total, uint64_t k) {
  Namespace ns(dev.geo, true);
  Replayer r(dev.span(), CacheOps{});
  dev.set_next_index(total - k);
  r.play(ns);
  dev.set_next_index(total);
  Timing best;
  const Timer t;
  const ReplayReport rep = r.play(ns);
  best.take(t);
  if (rep.to - rep.from != k) throw std::runtime_error("incremental replay applied wrong count");
  return best;
}

Timing time_bitmap(Device& dev, int reps, BitmapStats* stats) {
  Timing best;
  for (int i = 0; i < reps; ++i) {
    const Timer t;
    BitmapBuild bb = build_bitmap(dev.span(), dev.geo, CacheOps{});
    best.take(t);
    *stats = bb.stats;
  }
  return best;
}

void bench_log(const char* label, uint64_t dev_size, uint64_t log_len, uint64_t ndirs, int reps,
               bool details = true) {
  Device dev(dev_size, log_len);
  const uint64_t slots = dev.geo.slots();
  const auto t0 = Clock::now();
  fill_log(dev, slots, ndirs);
  const double build_ms = ms_since(t0);
  std::printf("\n== %s: %llu of %llu slots (%llu dirs, %llu files); log built in %.0f ms\n",
              label, static_cast<unsigned long long>(slots),
              static_cast<unsigned long long>(slots), static_cast<unsigned long long>(ndirs),
              static_cast<unsigned long long>(slots - ndirs), build_ms);

  std::printf("%-22s %12s %12s %14s\n", "", "cpu ms", "wall ms", "cpu ns/entry");
  const ReplayTiming full = time_full_replay(dev, reps);
  std::printf("%-22s %12.2f %12.2f %14.0f   (best of %d)\n", "full replay", full.t.cpu_ms,
              full.t.wall_ms, full.t.cpu_ms * 1e6 / static_cast<double>(full.entries), reps);
  const Timing crc = time_crc_pass(dev, slots, reps, CrcImpl::Ours);
  const Timing zcrc = time_crc_pass(dev, slots, reps, CrcImpl::Zlib);
  std::printf("%-22s %12.2f %12.2f %14.0f\n", "CRC-only pass", crc.cpu_ms, crc.wall_ms,
              crc.cpu_ms * 1e6 / static_cast<double>(slots));
  std::printf("%-22s %12.2f %12.2f %14.0f\n", "CRC-only pass, zlib", zcrc.cpu_ms, zcrc.wall_ms,
              zcrc.cpu_ms * 1e6 / static_cast<double>(slots));
  std::printf("replay / CRC-only pass %.2fx; replay / zlib CRC-only pass %.2fx; namespace "
              "building (replay - CRC-only) %.0f ns/entry\n",
              full.t.cpu_ms / crc.cpu_ms, full.t.cpu_ms / zcrc.cpu_ms,
              (full.t.cpu_ms - crc.cpu_ms) * 1e6 / static_cast<double>(slots));
  std::printf("RESULT replay entries=%llu replay_cpu_ms=%.3f replay_wall_ms=%.3f crc_cpu_ms=%.3f "
              "zlib_crc_cpu_ms=%.3f\n",
              static_cast<unsigned long long>(slots), full.t.cpu_ms, full.t.wall_ms, crc.cpu_ms,
              zcrc.cpu_ms);
  if (full.entries != slots) throw std::runtime_error("replay did not reach the end of the log");
  if (!details) return;
  for (uint64_t k : {1ull, 10ull, 100ull, 1000ull, 10000ull}) {
    if (k > slots - ndirs) break;
    const Timing t = time_incremental(dev, slots, k);
    const std::string label = "incremental k=" + std::to_string(k);
    std::printf("%-22s %12.3f %12.3f %14.0f\n", label.c_str(), t.cpu_ms, t.wall_ms,
                t.cpu_ms * 1e6 / static_cast<double>(k));
  }
  BitmapStats st;
  const Timing bm = time_bitmap(dev, reps, &st);
  std::printf("%-22s %12.2f %12.2f %14.0f   (%llu files, %llu dirs, %llu collisions)\n",
              "build_bitmap", bm.cpu_ms, bm.wall_ms,
              bm.cpu_ms * 1e6 / static_cast<double>(st.entries_used),
              static_cast<unsigned long long>(st.files),
              static_cast<unsigned long long>(st.directories),
              static_cast<unsigned long long>(st.collisions));
}

uint64_t heap_in_use() {
  malloc_trim(0);
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd; // small-chunk arena bytes + mmapped chunks
}

uint64_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long long size = 0, res = 0;
  if (f) {
    if (std::fscanf(f, "%llu %llu", &size, &res) != 2) res = 0;
    std::fclose(f);
  }
  return res * 4096;
}

void bench_memory(uint64_t nfiles, uint64_t ndirs) {
  Device dev(nfiles * 2 * omf::kAllocUnit + 4 * kGiB, 64 * kMiB);
  fill_log(dev, ndirs + nfiles, ndirs);
  const uint64_t heap0 = heap_in_use();
  const uint64_t rss0 = rss_bytes();
  {
    Namespace ns(dev.geo, true);
    {
      Replayer r(dev.span(), CacheOps{});
      const ReplayReport rep = r.play(ns); // the report (created inos) is freed before measuring
      if (rep.new_files != nfiles) throw std::runtime_error("memory benchmark: wrong file count");
    }
    const uint64_t heap1 = heap_in_use();
    const uint64_t rss1 = rss_bytes();
    std::printf("\n== Namespace memory at %llu files in %llu directories\n",
                static_cast<unsigned long long>(nfiles), static_cast<unsigned long long>(ndirs));
    std::printf("sizeof(Inode) = %zu\n", sizeof(Inode));
    std::printf("heap in use:   %.1f MiB total, %.1f bytes per file (mallinfo2, all inodes, "
                "names, maps, index)\n",
                static_cast<double>(heap1 - heap0) / kMiB,
                static_cast<double>(heap1 - heap0) / static_cast<double>(nfiles));
    std::printf("RSS growth:    %.1f MiB total, %.1f bytes per file (/proc/self/statm)\n",
                static_cast<double>(rss1 - rss0) / kMiB,
                static_cast<double>(rss1 - rss0) / static_cast<double>(nfiles));
  }
}

} // namespace

int main(int argc, char** argv) {
  // Parts to run: small, large and memory by default, or any of "small", "large", "memory",
  // "curve"; "quick" alone is the default parts with fewer repetitions.
  auto has = [&](const char* part) {
    for (int i = 1; i < argc; ++i)
      if (std::strcmp(argv[i], part) == 0) return true;
    return false;
  };
  const bool quick = has("quick");
  const bool defaults = argc - (quick ? 1 : 0) < 2;
  auto want = [&](const char* part) { return (defaults && std::strcmp(part, "curve") != 0) || has(part); };
  const int small_reps = quick ? 5 : 10, large_reps = quick ? 2 : 3;
  try {
    // 8 MiB log: 15,420 slots; 30 GiB of file data.
    if (want("small")) bench_log("8 MiB log", 32 * kGiB, 8 * kMiB, 100, small_reps);
    // 512 MiB log: 986,894 slots; ~1.9 TiB of file data on a 2 TiB device.
    if (want("large")) bench_log("512 MiB log", 2048 * kGiB, 512 * kMiB, 3000, large_reps);
    if (want("memory")) bench_memory(100000, 1000);
    // Replay time against the number of entries (the 8 and 512 MiB points are the logs above).
    if (want("curve")) {
      bench_log("32 MiB log", 128 * kGiB, 32 * kMiB, 200, small_reps, false);
      bench_log("128 MiB log", 512 * kGiB, 128 * kMiB, 750, large_reps, false);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_replay: %s\n", e.what());
    return 1;
  }
  return 0;
}
