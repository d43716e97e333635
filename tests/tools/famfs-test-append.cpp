// famfs-test-append: a test-only "master" that appends log entries straight into an image
// (or device) with the src/meta LogWriter and Allocator, without any mount or identity check.
//
//   famfs-test-append IMAGE mkdir PATH [--mode M] [--uid U] [--gid G]
//   famfs-test-append IMAGE file PATH --size N [--mode M] [--uid U] [--gid G] [--seed S]
//                                      [--interleave NSTRIPS --chunk BYTES [--buckets B]
//                                       [--strip-len BYTES]]  (cut every strip to BYTES, e.g.
//                                        not a multiple of the chunk: issue 8 defect 7)
//                                      [--stamp]  (print "stamp <CLOCK_MONOTONIC ns>" taken
//                                                  right after the append)
//   famfs-test-append IMAGE bulk DIR COUNT [--size N] [--mode M]
//        mkdir DIR (if missing), then COUNT files DIR/f0..: they all share one allocation unit
//        (cross-linked on purpose, so 100,000 files fit in a small image)
//   famfs-test-append IMAGE corrupt INDEX    flip one byte of log entry INDEX (CRC fails)
//   famfs-test-append IMAGE fill PATH --seed S   write the pattern of spec B§8.5 into PATH
//
// Prints one line per appended entry: "<index> <kind> <path>" (bulk: a summary line).
#include <algorithm>
#include <cerrno>
#include <optional>
#include <span>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "dax/cache.hpp"
#include "dax/device.hpp"
#include "dax/mapping.hpp"
#include "meta/append.hpp"
#include "meta/bitmap.hpp"
#include "meta/error.hpp"
#include "meta/log.hpp"
#include "meta/namespace.hpp"
#include "meta/path.hpp"
#include "master/random_fill.hpp"
#include "meta/replay.hpp"
#include "meta/superblock.hpp"

using namespace famfs;

namespace {

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "famfs-test-append: %s\n"
               "usage: famfs-test-append IMAGE mkdir PATH [--mode M] [--uid U] [--gid G]\n"
               "       famfs-test-append IMAGE file PATH --size N [--mode M] [--uid U] [--gid G]"
               " [--seed S] [--interleave NSTRIPS --chunk BYTES [--buckets B]]\n"
               "       famfs-test-append IMAGE bulk DIR COUNT [--size N] [--mode M]\n"
               "       famfs-test-append IMAGE corrupt INDEX\n"
               "       famfs-test-append IMAGE fill PATH --seed S\n",
               why);
  std::exit(2);
}

uint64_t num(const char* s) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 0);
  if (errno || !end || end == s) usage((std::string("bad number ") + s).c_str());
  switch (*end) {
    case 0: return v;
    case 'k': case 'K': return v << 10;
    case 'm': case 'M': return v << 20;
    case 'g': case 'G': return v << 30;
    default: usage((std::string("bad number ") + s).c_str());
  }
}

struct Opts {
  uint64_t size = 0;
  uint32_t mode = 0;
  bool mode_set = false;
  uint32_t uid = 0, gid = 0;
  uint64_t seed = 0;
  uint32_t nstrips = 0, nbuckets = 0;
  uint64_t chunk = 0;
  uint64_t strip_len = 0;
  bool stamp = false;
};

Opts parse(int argc, char** argv, int from) {
  Opts o;
  for (int i = from; i < argc; ++i) {
    std::string_view a = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) usage((std::string(a) + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "--size") o.size = num(val());
    else if (a == "--mode") { o.mode = uint32_t(std::strtoul(val(), nullptr, 8)); o.mode_set = true; }
    else if (a == "--uid") o.uid = uint32_t(num(val()));
    else if (a == "--gid") o.gid = uint32_t(num(val()));
    else if (a == "--seed") o.seed = num(val());
    else if (a == "--interleave") o.nstrips = uint32_t(num(val()));
    else if (a == "--chunk") o.chunk = num(val());
    else if (a == "--buckets") o.nbuckets = uint32_t(num(val()));
    else if (a == "--strip-len") o.strip_len = num(val());
    else if (a == "--stamp") o.stamp = true;
    else usage((std::string("unknown option ") + std::string(a)).c_str());
  }
  return o;
}

void fill(std::byte* base, const Fmap& f, uint64_t size, uint64_t seed) {
  std::vector<std::byte> buf(size);
  random_fill(buf, seed);
  for (uint64_t off = 0; off < size;) {
    auto r = f.resolve(off);
    if (!r) throw Error(EINVAL, "fmap does not cover the file size");
    uint64_t l = std::min(r->len, size - off);
    std::memcpy(base + r->dev_offset, buf.data() + off, l);
    dax::flush_range(base + r->dev_offset, l);
    off += l;
  }
  dax::store_fence();
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3) usage("missing arguments");
  std::string image = argv[1];
  std::string_view cmd = argv[2];
  try {
    dax::Device dev = dax::Device::open(image, true);
    dax::Mapping map = dax::Mapping::map(dev, true);
    std::span<std::byte> bytes = map.bytes();
    omf::Superblock sb = read_superblock(map.cbytes());
    if (!sb_usable(check_superblock(sb))) throw Error(EINVAL, image + ": no valid superblock");
    Geometry g = geometry_of(sb, map.cbytes());
    CacheOps cache = dax::cpu_cache_ops();

    if (cmd == "corrupt") {
      if (argc != 4) usage("corrupt INDEX");
      uint64_t idx = num(argv[3]);
      std::byte* p = map.data() + omf::log_slot_offset(idx) + 40; // inside the relpath
      *p ^= std::byte{0x5a};
      dax::flush_range(p, 1);
      dax::store_fence();
      std::printf("%llu corrupted\n", static_cast<unsigned long long>(idx));
      return 0;
    }
    if (cmd == "fill") {
      if (argc < 4) usage("fill PATH --seed S");
      Opts o = parse(argc, argv, 4);
      Namespace ns(g, true);
      Replayer rp(map.cbytes(), cache);
      rp.play(ns);
      auto ino = ns.resolve(argv[3]);
      if (!ino || ns.get(*ino)->is_dir) throw Error(ENOENT, std::string(argv[3]) + ": no such file");
      const Inode* n = ns.get(*ino);
      fill(map.data(), n->fmap, n->size, o.seed);
      return 0;
    }

    LogWriter w(bytes, g, cache);
    BitmapBuild bb = build_bitmap(map.cbytes(), g, cache);
    Allocator alloc(bb.bitmap, g);

    if (cmd == "mkdir") {
      if (argc < 4) usage("mkdir PATH");
      Opts o = parse(argc, argv, 4);
      std::string rel = canonical_relpath_for_write(argv[3]);
      uint64_t idx = w.append(make_mkdir_entry(rel, o.mode_set ? o.mode : 0755, o.uid, o.gid));
      std::printf("%llu mkdir %s\n", static_cast<unsigned long long>(idx), rel.c_str());
      return 0;
    }
    if (cmd == "file") {
      if (argc < 4) usage("file PATH --size N");
      Opts o = parse(argc, argv, 4);
      if (o.size == 0) usage("--size N (> 0) is required");
      std::optional<Fmap> f;
      if (o.nstrips) {
        InterleaveParams ip;
        ip.nstrips = o.nstrips;
        ip.nbuckets = o.nbuckets ? o.nbuckets : o.nstrips;
        ip.chunk_size = o.chunk ? o.chunk : omf::kAllocUnit;
        f = alloc.alloc_interleaved(o.size, ip, 12345);
        if (f && o.strip_len) {
          for (Extent& e : f->extents) {
            if (o.strip_len > e.len) usage("--strip-len is longer than the allocated strips");
            e.len = o.strip_len;
          }
        }
      } else {
        f = alloc.alloc_contiguous(o.size);
      }
      if (!f) throw Error(ENOSPC, "no space for " + std::to_string(o.size) + " bytes");
      if (o.seed) fill(map.data(), *f, o.size, o.seed);
      FileEntryParams p;
      p.relpath = canonical_relpath_for_write(argv[3]);
      p.size = o.size;
      p.mode = o.mode_set ? o.mode : 0644;
      p.uid = o.uid;
      p.gid = o.gid;
      p.fmap = *f;
      uint64_t idx = w.append(make_file_entry(p));
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      std::printf("%llu file %s\n", static_cast<unsigned long long>(idx), p.relpath.c_str());
      if (o.stamp)
        std::printf("stamp %lld\n", static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec);
      return 0;
    }
    if (cmd == "bulk") {
      if (argc < 5) usage("bulk DIR COUNT");
      std::string dir = canonical_relpath_for_write(argv[3]);
      uint64_t count = num(argv[4]);
      Opts o = parse(argc, argv, 5);
      uint64_t size = o.size ? o.size : 4096;
      if (size > g.alloc_unit) usage("bulk --size must be at most one allocation unit");
      auto f = alloc.alloc_contiguous(size);
      if (!f) throw Error(ENOSPC, "no space");
      {
        Namespace ns(g, true);
        Replayer rp(map.cbytes(), cache);
        rp.play(ns);
        if (!ns.resolve(dir)) w.append(make_mkdir_entry(dir, 0755, 0, 0));
      }
      w.reserve(count);
      uint64_t first = w.next_index();
      for (uint64_t i = 0; i < count; ++i) {
        FileEntryParams p;
        p.relpath = dir + "/f" + std::to_string(i);
        p.size = size;
        p.mode = o.mode_set ? o.mode : 0644;
        p.fmap = *f;
        w.append(make_file_entry(p));
      }
      std::printf("%llu..%llu bulk %s %llu files\n", static_cast<unsigned long long>(first),
                  static_cast<unsigned long long>(w.next_index()),
                  dir.c_str(), static_cast<unsigned long long>(count));
      return 0;
    }
    usage("unknown command");
  } catch (const Error& e) {
    std::fprintf(stderr, "famfs-test-append: %s\n", e.what());
    return 1;
  }
}
