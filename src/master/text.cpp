#include "master/text.hpp"

#include <array>
#include <cstdio>
#include <cstring>

namespace famfs::master {

std::string count_of(uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string human_bytes(uint64_t bytes) {
  constexpr std::array<const char*, 6> kUnits = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  constexpr double kStep = 1024.0;
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double v = double(bytes);
  size_t u = 0;
  v /= kStep;
  while (v >= kStep && u + 1 < kUnits.size()) {
    v /= kStep;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[u]);
  return buf;
}

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string errno_text(int err) { return std::strerror(err); }

} // namespace famfs::master
