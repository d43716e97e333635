#include "master/verify.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "master/random_fill.hpp"
#include "master/text.hpp"
#include "proto/unique_fd.hpp"

namespace famfs::master {

namespace {

constexpr size_t kVerifyBuf = 8u << 20;

// Streaming comparison against the pattern.
struct Verifier {
  RandomStream rs;
  explicit Verifier(uint64_t seed) : rs(seed) {}
  // Compare `n` bytes of the file starting at word-aligned offset `base`; the first mismatch's
  // word-aligned file offset, if any.
  std::optional<uint64_t> check(const unsigned char* p, size_t n, uint64_t base) {
    size_t words = n / 4;
    for (size_t w = 0; w < words; ++w) {
      uint32_t want = uint32_t(rs.next());
      uint32_t have;
      std::memcpy(&have, p + 4 * w, 4);
      if (have != want) return base + 4 * w;
    }
    if (size_t rem = n % 4) {
      uint32_t want = uint32_t(rs.next());
      if (std::memcmp(p + 4 * words, &want, rem) != 0) return base + 4 * words;
    }
    return std::nullopt;
  }
};

VerifyResult error(std::string msg) {
  VerifyResult r;
  r.status = VerifyResult::Status::Error;
  r.message = std::move(msg);
  return r;
}

// Read exactly `want` bytes at `off`; an error text on failure.
std::optional<std::string> read_full(int fd, unsigned char* buf, size_t want, uint64_t off,
                                     const std::string& path) {
  size_t got = 0;
  while (got < want) {
    ssize_t r = ::pread(fd, buf + got, want - got, off_t(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      return "reading " + quote(path) + " at offset " + std::to_string(off + got) + ": " +
             (r < 0 ? errno_text(errno) : std::string("unexpected end of file"));
    got += size_t(r);
  }
  return std::nullopt;
}

} // namespace

VerifyResult verify_file(const std::string& path, uint64_t seed) {
  if (seed == 0)
    return error("no seed for " + quote(path) +
                 ": give the seed the file was created with (-S SEED, not 0)");
  proto::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return error("cannot open " + quote(path) + ": " + errno_text(errno));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return error(quote(path) + " is not a regular file");
  VerifyResult r;
  r.size = uint64_t(st.st_size);
  std::vector<unsigned char> buf(kVerifyBuf);
  Verifier v(seed);
  for (uint64_t off = 0; off < r.size;) {
    size_t want = size_t(std::min<uint64_t>(kVerifyBuf, r.size - off));
    if (auto why = read_full(fd.get(), buf.data(), want, off, path)) return error(*why);
    if (auto bad = v.check(buf.data(), want, off)) {
      r.status = VerifyResult::Status::Mismatch;
      r.offset = *bad;
      return r;
    }
    off += want;
  }
  return r;
}

} // namespace famfs::master
