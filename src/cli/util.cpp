#include "cli/util.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <limits>

#include "dax/device_id.hpp"

namespace famfs::cli {

std::optional<uint64_t> parse_size(std::string_view s, std::string* why) {
  auto fail = [&](const std::string& w) -> std::optional<uint64_t> {
    if (why) *why = w;
    return std::nullopt;
  };
  if (s.empty()) return fail("empty size");
  uint64_t shift = 0;
  switch (s.back()) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    default: break;
  }
  std::string_view digits = shift ? s.substr(0, s.size() - 1) : s;
  unsigned base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  }
  if (digits.empty())
    return fail("'" + std::string(s) + "' is not a size (expected N, 0xN or N with k, m or g)");
  uint64_t v = 0;
  for (char c : digits) {
    unsigned d;
    if (c >= '0' && c <= '9') d = unsigned(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f') d = unsigned(c - 'a' + 10);
    else if (base == 16 && c >= 'A' && c <= 'F') d = unsigned(c - 'A' + 10);
    else return fail("'" + std::string(s) + "' is not a size (expected N, 0xN or N with k, m or g)");
    if (v > (std::numeric_limits<uint64_t>::max() - d) / base)
      return fail("'" + std::string(s) + "' is too large");
    v = v * base + d;
  }
  if (shift && v > (std::numeric_limits<uint64_t>::max() >> shift))
    return fail("'" + std::string(s) + "' is too large");
  return v << shift;
}

std::optional<uint32_t> parse_mode(std::string_view s, std::string* why) {
  auto fail = [&]() -> std::optional<uint32_t> {
    if (why) *why = "'" + std::string(s) + "' is not an octal mode (e.g. 0644, 755)";
    return std::nullopt;
  };
  if (s.empty() || s.size() > 5) return fail();
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '7') return fail();
    v = v * 8 + uint32_t(c - '0');
  }
  if (v > 07777) return fail();
  return v;
}

void print_error(std::string_view prog, std::string_view message) {
  std::fprintf(stderr, "%.*s: %.*s\n", int(prog.size()), prog.data(), int(message.size()),
               message.data());
}

void print_warning(std::string_view prog, std::string_view message) {
  std::fprintf(stderr, "%.*s: warning: %.*s\n", int(prog.size()), prog.data(),
               int(message.size()), message.data());
}

namespace {
bool has_option(std::string_view options, std::string_view name) {
  size_t pos = 0;
  while (pos <= options.size()) {
    size_t comma = options.find(',', pos);
    if (comma == std::string_view::npos) comma = options.size();
    if (options.substr(pos, comma - pos) == name) return true;
    pos = comma + 1;
  }
  return false;
}
} // namespace

std::optional<uint32_t> fuse_mount_user(std::string_view options) {
  return dax::mount_user_id(options);
}

std::optional<std::string> device_exposure_warning(const std::string& path,
                                                   const struct stat& st) {
  const auto who = dax::device_exposure(st);
  if (!who) return std::nullopt;
  const bool owner = st.st_uid != 0;
  const bool readable = (st.st_mode & (S_IRGRP | S_IROTH)) || (owner && (st.st_mode & S_IRUSR));
  const bool writable = (st.st_mode & (S_IWGRP | S_IWOTH)) || (owner && (st.st_mode & S_IWUSR));
  std::string what;
  if (readable)
    what = "they can read every file's data straight from it, whatever the files' modes say";
  if (writable)
    what += std::string(readable ? ", and" : "they can") + " change any file and the log";
  return path + " is open to users other than root: " + *who + "; " + what + "; run 'chmod 600 " +
         path + "'" + (owner ? " and 'chown root:root " + path + "'" : std::string());
}

std::optional<std::string> fuse_access_denied(std::string_view mpt, std::string_view options,
                                              int err) {
  if ((err != EACCES && err != EPERM) || ::geteuid() == 0 || has_option(options, "allow_other"))
    return std::nullopt;
  const auto owner = fuse_mount_user(options);
  if (owner && *owner == ::getuid()) return std::nullopt;
  return std::string(mpt) + " was mounted without allow_other, so only root" +
         (owner && *owner != 0 ? " and its mounting user (uid " + std::to_string(*owner) + ")"
                               : std::string()) +
         " can use it; run this as root, or mount it with 'famfs mount --allow-other'";
}

} // namespace famfs::cli
