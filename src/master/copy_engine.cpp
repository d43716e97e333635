// The master's data path: see copy_engine.hpp.
#include "master/copy_engine.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "dax/cache.hpp"
#include "master/random_fill.hpp"
#include "master/text.hpp"
#include "meta/error.hpp"

namespace famfs::master {

CopyMethod copy_method_from_env() {
  const char* m = std::getenv("FAMFS_CP_METHOD");
  if (!m) return CopyMethod::Auto;
  std::string_view v(m);
  if (v == "read") return CopyMethod::Read;
  if (v == "memcpy") return CopyMethod::Memcpy;
  if (v == "nt") return CopyMethod::NonTemporal;
  return CopyMethod::Auto;
}

namespace {

constexpr std::size_t kPiece = 64ull << 20; // progress granularity

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

// Fault the destination in ahead of the copy, one batch per piece (one call instead of a
// fault per 4 KiB page on image files; device-dax gets its PMD mappings). Best effort.
void prefault_write(void* p, std::size_t n) {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  std::uintptr_t lo = a & ~std::uintptr_t(4095), hi = (a + n + 4095) & ~std::uintptr_t(4095);
  if (n >= (1u << 20)) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_POPULATE_WRITE);
}

} // namespace

namespace {

struct Piece {
  uint64_t src_off;
  std::byte* dst;
  std::size_t len;
};

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

void populate(const void* p, std::size_t n, int advice) {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  std::uintptr_t lo = a & ~std::uintptr_t(4095), hi = (a + n + 4095) & ~std::uintptr_t(4095);
  ::madvise(reinterpret_cast<void*>(lo), hi - lo, advice);
}

// Faults in the next pieces (destination for writing, source for reading) on a helper thread
// while the caller copies the current one, so page-table work overlaps the copy. Purely a
// speed-up: the copier faults whatever the helper has not reached yet.
class Prefetcher {
 public:
  Prefetcher(const std::vector<Piece>& pieces, const char* src) : pieces_(pieces), src_(src) {
    thr_ = std::thread([this] { run(); });
  }
  ~Prefetcher() {
    stop_.store(true);
    thr_.join();
  }
  void copied(std::size_t i) { copied_.store(i + 1, std::memory_order_release); }

 private:
  void run() {
    constexpr std::size_t kAhead = 3;
    for (std::size_t i = 1; i < pieces_.size() && !stop_.load(); ++i) {
      while (!stop_.load() && i >= copied_.load(std::memory_order_acquire) + kAhead)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      if (stop_.load()) break;
      const Piece& p = pieces_[i];
      populate(p.dst, p.len, MADV_POPULATE_WRITE);
      if (src_) populate(src_ + p.src_off, p.len, MADV_POPULATE_READ);
    }
  }
  const std::vector<Piece>& pieces_;
  const char* src_;
  std::atomic<std::size_t> copied_{0};
  std::atomic<bool> stop_{false};
  std::thread thr_;
};

} // namespace

namespace {

// The destination pieces of a file, in file order (at most kPiece bytes each).
std::vector<Piece> pieces_of(std::span<std::byte> dev, const Fmap& fmap, uint64_t size,
                             const std::string& src_name) {
  std::vector<Piece> pieces;
  for (uint64_t off = 0; off < size;) {
    auto run = fmap.resolve(off);
    if (!run || run->len == 0)
      throw Error(EIO, "internal error: the map of the destination for " + quote(src_name) +
                           " ends at " + std::to_string(off) + " of " + std::to_string(size) + " bytes");
    uint64_t n = std::min<uint64_t>(run->len, size - off);
    if (run->dev_offset > dev.size() || n > dev.size() - run->dev_offset)
      throw Error(EIO, "internal error: destination extent beyond the device end");
    for (uint64_t done = 0; done < n;) {
      std::size_t k = std::size_t(std::min<uint64_t>(kPiece, n - done));
      pieces.push_back({off + done, dev.data() + run->dev_offset + done, k});
      done += k;
    }
    off += n;
  }
  return pieces;
}

// The source file mapped read-only (empty when it cannot be: pipes, some special files).
class SourceMap {
 public:
  SourceMap(int fd, uint64_t size, bool populate_now) : n_(size) {
    if (size == 0) return;
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | (populate_now ? MAP_POPULATE : 0), fd, 0);
    if (p == MAP_FAILED) return;
    ::madvise(p, size, MADV_SEQUENTIAL);
    p_ = static_cast<const char*>(p);
  }
  ~SourceMap() {
    if (p_) ::munmap(const_cast<char*>(p_), n_);
  }
  SourceMap(const SourceMap&) = delete;
  SourceMap& operator=(const SourceMap&) = delete;
  const char* data() const { return p_; }

 private:
  const char* p_ = nullptr;
  uint64_t n_;
};

void read_piece(int fd, const Piece& pc, uint64_t size, const std::string& src_name) {
  std::size_t got = 0;
  while (got < pc.len) {
    ssize_t r = ::pread(fd, pc.dst + got, pc.len - got, off_t(pc.src_off + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(errno, "cannot read " + quote(src_name) + ": " + errno_text(errno));
    }
    if (r == 0)
      throw Error(EIO, quote(src_name) + " ended at " + std::to_string(pc.src_off + got) +
                           " bytes, expected " + std::to_string(size) +
                           " (did it shrink during the copy?)");
    got += std::size_t(r);
  }
  dax::flush_range(pc.dst, pc.len);
}

void copy_piece(const Piece& pc, int fd, const char* src, CopyMethod method, uint64_t size,
                const std::string& src_name) {
  switch (method) {
    case CopyMethod::Read:
    case CopyMethod::Auto:
      read_piece(fd, pc, size, src_name);
      break;
    case CopyMethod::Memcpy:
      std::memcpy(pc.dst, src + pc.src_off, pc.len);
      dax::flush_range(pc.dst, pc.len);
      break;
    case CopyMethod::NonTemporal:
      dax::stream_store(pc.dst, src + pc.src_off, pc.len);
      break;
  }
}

// Several copiers over the pieces of one large file; the first error wins.
void copy_parallel(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& one) {
  std::mutex err_mu;
  std::optional<Error> err;
  parallel_for(n, threads, [&](std::size_t i) {
    {
      std::lock_guard<std::mutex> g(err_mu);
      if (err) return;
    }
    try {
      one(i);
      dax::store_fence();
    } catch (const Error& e) {
      std::lock_guard<std::mutex> g(err_mu);
      if (!err) err = e;
    }
  });
  if (err) throw *err;
}

bool env_is(const char* name, std::string_view value) {
  const char* v = std::getenv(name);
  return v && std::string_view(v) == value;
}

} // namespace

void copy_fd_to_fmap(std::span<std::byte> dev, const Fmap& fmap, int fd, uint64_t size,
                     const std::string& src_name, ProgressSink* progress, CopyMethod method,
                     unsigned threads) {
  constexpr uint64_t kNonTemporalFrom = 1u << 20;
  if (method == CopyMethod::Auto) method = size >= kNonTemporalFrom ? CopyMethod::NonTemporal : CopyMethod::Read;
  std::vector<Piece> pieces = pieces_of(dev, fmap, size, src_name);

  const bool debug = std::getenv("FAMFS_CP_DEBUG") != nullptr;
  auto t_start = std::chrono::steady_clock::now();
  // Opt-in: on a busy 2-CPU machine the helper thread costs more than it saves (measured).
  bool prefetch = pieces.size() > 2 && env_is("FAMFS_CP_PREFETCH", "1");
  std::optional<SourceMap> srcmap;
  if (method != CopyMethod::Read) srcmap.emplace(fd, size, !prefetch);
  const char* src = srcmap ? srcmap->data() : nullptr;
  if (!src) method = CopyMethod::Read;

  auto t_mapped = std::chrono::steady_clock::now();
  std::optional<Prefetcher> pf;
  if (prefetch) {
    populate(pieces[0].dst, pieces[0].len, MADV_POPULATE_WRITE);
    if (src) populate(src, pieces[0].len, MADV_POPULATE_READ);
    pf.emplace(pieces, src);
  }
  auto one = [&](std::size_t i) {
    const Piece& pc = pieces[i];
    if (!prefetch) prefault_write(pc.dst, pc.len);
    copy_piece(pc, fd, src, method, size, src_name);
    if (pf) pf->copied(i);
    if (progress) progress->add_bytes(pc.len);
  };
  if (threads > 1 && pieces.size() > 1 && !pf) {
    copy_parallel(pieces.size(), threads, one);
  } else {
    for (std::size_t i = 0; i < pieces.size(); ++i) one(i);
  }
  dax::store_fence();
  if (debug) {
    using sec = std::chrono::duration<double>;
    auto t_end = std::chrono::steady_clock::now();
    std::fprintf(stderr, "famfs cp: %s: %llu bytes, method %d, prefetch %d: map %.3f s, copy %.3f s (%.2f GB/s)\n",
                 src_name.c_str(), (unsigned long long)size, int(method), int(prefetch),
                 sec(t_mapped - t_start).count(), sec(t_end - t_mapped).count(),
                 double(size) / sec(t_end - t_mapped).count() / 1e9);
  }
}

void random_fill_fmap(std::span<std::byte> dev, const Fmap& fmap, uint64_t size, uint64_t seed,
                      ProgressSink* progress) {
  RandomStream rs(seed);
  uint64_t off = 0;
  while (off < size) {
    auto run = fmap.resolve(off);
    if (!run || run->len == 0) throw Error(EIO, "internal error: map shorter than the file");
    uint64_t n = std::min<uint64_t>(run->len, size - off);
    if (run->dev_offset > dev.size() || n > dev.size() - run->dev_offset)
      throw Error(EIO, "internal error: extent beyond the device end");
    std::byte* dst = dev.data() + run->dev_offset;
    uint64_t done = 0;
    while (done < n) {
      std::size_t k = std::size_t(std::min<uint64_t>(kPiece, n - done));
      std::byte* p = dst + done;
      prefault_write(p, k);
      std::size_t words = k / 4;
      for (std::size_t w = 0; w < words; ++w) {
        uint32_t v = uint32_t(rs.next());
        std::memcpy(p + 4 * w, &v, 4);
      }
      if (std::size_t rem = k % 4) {
        // Only the very end of the file can be a partial word (runs are AU multiples).
        uint32_t v = uint32_t(rs.next());
        std::memcpy(p + 4 * words, &v, rem);
      }
      dax::flush_range(p, k);
      done += k;
      if (progress) progress->add_bytes(k);
    }
    off += n;
  }
  dax::store_fence();
}

void zero_tail(std::span<std::byte> dev, const Fmap& fmap, uint64_t size) {
  if (size % 4096 == 0) return;
  auto run = fmap.resolve(size);
  if (!run) return;
  uint64_t n = std::min<uint64_t>(run->len, 4096 - size % 4096);
  if (run->dev_offset > dev.size() || n > dev.size() - run->dev_offset) return;
  std::memset(dev.data() + run->dev_offset, 0, n);
  dax::flush_range(dev.data() + run->dev_offset, n);
}

void parallel_for(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& fn) {
  if (threads <= 1 || n <= 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  threads = unsigned(std::min<std::size_t>(threads, n));
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (std::size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
    });
  for (auto& t : pool) t.join();
}

} // namespace famfs::master
