// famfs-meta-ops: the metadata loops bench_daemon.py times against tmpfs (not a test).
//
//   famfs-meta-ops openclose FILE SECONDS     open(O_RDONLY) + close of one file
//   famfs-meta-ops negative DIR SECONDS       stat of names that do not exist (1,000 of them)
//   famfs-meta-ops readdir DIR SECONDS        opendir + readdir to the end + closedir
//
// Prints one line: "<operations per second> <entries per listing>" (the second is 0 except for
// readdir). A C++ loop, so the figure is the file system's, not an interpreter's.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kNegativeNames = 1000;
constexpr int kBatch = 64; // operations between clock reads

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int open_close(const char* file, double secs) {
  uint64_t n = 0;
  const auto t0 = Clock::now();
  while (seconds_since(t0) < secs) {
    for (int i = 0; i < kBatch; ++i) {
      const int fd = ::open(file, O_RDONLY);
      if (fd < 0) return std::perror(file), 1;
      ::close(fd);
    }
    n += kBatch;
  }
  std::printf("%.0f 0\n", double(n) / seconds_since(t0));
  return 0;
}

int negative(const char* dir, double secs) {
  std::vector<std::string> names;
  for (int i = 0; i < kNegativeNames; ++i)
    names.push_back(std::string(dir) + "/absent-" + std::to_string(i));
  uint64_t n = 0;
  struct stat st;
  const auto t0 = Clock::now();
  while (seconds_since(t0) < secs) {
    for (const auto& p : names) {
      if (::stat(p.c_str(), &st) == 0) return std::fprintf(stderr, "%s exists\n", p.c_str()), 1;
    }
    n += names.size();
  }
  std::printf("%.0f 0\n", double(n) / seconds_since(t0));
  return 0;
}

int listing(const char* dir, double secs) {
  uint64_t n = 0, entries = 0;
  const auto t0 = Clock::now();
  while (seconds_since(t0) < secs) {
    DIR* d = ::opendir(dir);
    if (!d) return std::perror(dir), 1;
    entries = 0;
    while (::readdir(d)) ++entries;
    ::closedir(d);
    ++n;
  }
  std::printf("%.1f %llu\n", double(n) / seconds_since(t0), (unsigned long long)entries);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: famfs-meta-ops openclose|negative|readdir PATH SECONDS\n");
    return 2;
  }
  const double secs = std::atof(argv[3]);
  if (!std::strcmp(argv[1], "openclose")) return open_close(argv[2], secs);
  if (!std::strcmp(argv[1], "negative")) return negative(argv[2], secs);
  if (!std::strcmp(argv[1], "readdir")) return listing(argv[2], secs);
  std::fprintf(stderr, "famfs-meta-ops: unknown loop %s\n", argv[1]);
  return 2;
}
