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

namespace {

struct OpenFile {
  proto::UniqueFd fd;
  uint64_t size = 0;
};

std::optional<OpenFile> open_regular(const std::string& path, VerifyResult& r) {
  OpenFile f{proto::UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), 0};
  if (!f.fd) {
    r = error("cannot open " + quote(path) + ": " + errno_text(errno));
    return std::nullopt;
  }
  struct stat st{};
  if (::fstat(f.fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    r = error(quote(path) + " is not a regular file");
    return std::nullopt;
  }
  f.size = uint64_t(st.st_size);
  return f;
}

} // namespace

VerifyResult compare_files(const std::string& source, const std::string& copy) {
  VerifyResult r;
  auto a = open_regular(source, r);
  if (!a) return r;
  auto b = open_regular(copy, r);
  if (!b) return r;
  r.size = a->size;
  uint64_t common = std::min(a->size, b->size);
  std::vector<unsigned char> ba(kVerifyBuf / 2), bb(kVerifyBuf / 2);
  for (uint64_t off = 0; off < common;) {
    size_t want = size_t(std::min<uint64_t>(ba.size(), common - off));
    if (auto why = read_full(a->fd.get(), ba.data(), want, off, source)) return error(*why);
    if (auto why = read_full(b->fd.get(), bb.data(), want, off, copy)) return error(*why);
    if (std::memcmp(ba.data(), bb.data(), want) != 0) {
      size_t i = 0;
      while (ba[i] == bb[i]) ++i;
      r.status = VerifyResult::Status::Mismatch;
      r.offset = off + i;
      return r;
    }
    off += want;
  }
  if (a->size != b->size) {
    r.status = VerifyResult::Status::Mismatch;
    r.offset = common;
  }
  return r;
}

} // namespace famfs::master
