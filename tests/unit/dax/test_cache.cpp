#include <catch2/catch.hpp>
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
