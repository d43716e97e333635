#include <catch2/catch.hpp>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dax/cache.hpp"

using namespace famfs::dax;

namespace {
// The cpu flags the kernel reports for the first CPU.
std::string cpu_flags() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("flags", 0) == 0) return line + " ";
  return {};
}
} // namespace

TEST_CASE("the flush instruction matches what the kernel reports for this CPU", "[cache]") {
  std::string flags = cpu_flags();
  if (flags.empty()) {
    WARN("no /proc/cpuinfo flags; skipping");
    return;
  }
  FlushInsn want = flags.find(" clwb ") != std::string::npos ? FlushInsn::Clwb
                   : flags.find(" clflushopt ") != std::string::npos ? FlushInsn::Clflushopt
                                                                      : FlushInsn::Clflush;
  CHECK(flush_instruction() == want);
  std::string name = flush_instruction_name();
  CHECK((name == "clwb" || name == "clflushopt" || name == "clflush"));
}

TEST_CASE("flush and invalidate keep memory contents, at any alignment and length", "[cache]") {
  std::vector<unsigned char> buf(64 * 1024 + 200);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<unsigned char>(i * 7);
  std::vector<unsigned char> copy = buf;

  flush_range(buf.data() + 3, 1);
  flush_range(buf.data() + 1, buf.size() - 1);
  store_fence();
  invalidate_range(buf.data() + 17, 4096 + 5);
  invalidate_range(buf.data(), 0);
  flush_range(buf.data(), 0);
  CHECK(buf == copy);

  famfs::CacheOps ops = cpu_cache_ops();
  buf[100] = 42;
  ops.flush(buf.data(), buf.size());
  ops.fence();
  ops.invalidate(buf.data(), buf.size());
  CHECK(buf[100] == 42);
  copy[100] = 42;
  CHECK(buf == copy);
}

TEST_CASE("stream_store copies exactly, at every alignment and length", "[cache]") {
  // Source and destination offsets cover the unaligned head, the 64- and 128-byte bodies of
  // both loops and the tail; the guard bytes around the destination must stay untouched.
  std::vector<unsigned char> src(8192 + 256), dst(8192 + 512);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>(i * 131 + 7);
  for (std::size_t doff : {0u, 1u, 15u, 63u, 64u, 100u}) {
    for (std::size_t soff : {0u, 3u, 64u}) {
      for (std::size_t n : {0u, 1u, 63u, 64u, 65u, 127u, 128u, 129u, 200u, 4096u, 8000u}) {
        std::fill(dst.begin(), dst.end(), 0xEE);
        famfs::dax::stream_store(dst.data() + 128 + doff, src.data() + soff, n);
        famfs::dax::store_fence();
        INFO("dst offset " << doff << ", src offset " << soff << ", length " << n);
        REQUIRE(std::memcmp(dst.data() + 128 + doff, src.data() + soff, n) == 0);
        REQUIRE(dst[128 + doff - 1] == 0xEE);
        REQUIRE(dst[128 + doff + n] == 0xEE);
      }
    }
  }
}
