// famfs-cp-baseline: the memcpy bandwidth famfs cp is compared against, measured the same way
// the copy runs: source mapped (MAP_POPULATE), destination a MAP_SHARED mapping of a tmpfs file
// of the same size, one memcpy over the whole file.
//
//   famfs-cp-baseline SRC DSTFILE [--falloc]
//
// --falloc pre-allocates the destination (like device memory that already exists), otherwise the
// destination is sparse and every page is allocated on first touch (like a fresh image file).
// Prints one JSON object: {"bytes", "fresh_gbps" (first memcpy), "resident_gbps" (memcpy through a
// new mapping of the now-resident destination: what a new process copying into existing device
// memory sees), "warm_gbps" (again through the same, faulted-in mapping: pure memcpy
// bandwidth)}. DSTFILE is removed afterwards.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
} // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: famfs-cp-baseline SRC DSTFILE [--falloc]\n");
    return 2;
  }
  bool falloc = argc > 3 && std::string(argv[3]) == "--falloc";
  int sfd = ::open(argv[1], O_RDONLY);
  if (sfd < 0) {
    std::perror(argv[1]);
    return 1;
  }
  off_t n = ::lseek(sfd, 0, SEEK_END);
  void* s = ::mmap(nullptr, size_t(n), PROT_READ, MAP_PRIVATE | MAP_POPULATE, sfd, 0);
  if (s == MAP_FAILED) {
    std::perror("mmap source");
    return 1;
  }
  int dfd = ::open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (dfd < 0 || ::ftruncate(dfd, n) != 0) {
    std::perror(argv[2]);
    return 1;
  }
  if (falloc && ::fallocate(dfd, 0, 0, n) != 0) {
    std::perror("fallocate");
    return 1;
  }
  void* d = ::mmap(nullptr, size_t(n), PROT_READ | PROT_WRITE, MAP_SHARED, dfd, 0);
  if (d == MAP_FAILED) {
    std::perror("mmap destination");
    return 1;
  }
  double t0 = now();
  std::memcpy(d, s, size_t(n));
  double t1 = now();
  // Resident: the memory exists, but this mapping is new (page-table faults, as a new process
  // mapping a device sees); then warm: the same mapping again.
  ::munmap(d, size_t(n));
  d = ::mmap(nullptr, size_t(n), PROT_READ | PROT_WRITE, MAP_SHARED, dfd, 0);
  if (d == MAP_FAILED) {
    std::perror("mmap destination");
    return 1;
  }
  double t2 = now();
  std::memcpy(d, s, size_t(n));
  double t3 = now();
  std::memcpy(d, s, size_t(n));
  double t4 = now();
  std::printf("{\"bytes\": %lld, \"fresh_gbps\": %.3f, \"resident_gbps\": %.3f, "
              "\"warm_gbps\": %.3f}\n",
              (long long)n, double(n) / (t1 - t0) / 1e9, double(n) / (t3 - t2) / 1e9,
              double(n) / (t4 - t3) / 1e9);
  ::munmap(d, size_t(n));
  ::munmap(s, size_t(n));
  ::close(dfd);
  ::close(sfd);
  ::unlink(argv[2]);
  return 0;
}
