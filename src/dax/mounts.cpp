// /proc/mounts lookups for famfs (FUSE subtype "famfs").
#include "dax/mounts.hpp"

#include "dax/device_id.hpp"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <sstream>

namespace famfs::dax {

namespace {

// The kernel escapes ' ', '\t', '\n' and '\\' in mount fields as a backslash and three octal
// digits (fs/proc_namespace.c mangle()).
std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(char((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string realpath_of(const std::string& p) { return canonical_path(p).value_or(std::string()); }

std::string read_proc_mounts() {
  std::ifstream f("/proc/self/mounts");
  if (!f) f.open("/proc/mounts");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

} // namespace

std::vector<MountEntry> parse_mounts(std::string_view text) {
  std::vector<MountEntry> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;

    std::string_view fields[4];
    size_t n = 0, i = 0;
    while (n < 4 && i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
      if (i > start) fields[n++] = line.substr(start, i - start);
    }
    if (n < 4) continue; // blank or malformed
    out.push_back({unescape(fields[0]), unescape(fields[1]), unescape(fields[2]),
                   unescape(fields[3])});
  }
  return out;
}

std::optional<MountEntry> mount_containing(const std::vector<MountEntry>& mounts,
                                           const std::string& abs_path) {
  const MountEntry* best = nullptr;
  for (const MountEntry& m : mounts) {
    if (m.fstype != kFamfsFstype) continue;
    const std::string& mp = m.mountpoint;
    bool inside;
    if (mp == "/")
      inside = !abs_path.empty() && abs_path[0] == '/';
    else
      inside = abs_path.compare(0, mp.size(), mp) == 0 &&
               (abs_path.size() == mp.size() || abs_path[mp.size()] == '/');
    // ">=": a later mount on the same point hides the earlier one.
    if (inside && (!best || mp.size() >= best->mountpoint.size())) best = &m;
  }
  if (!best) return std::nullopt;
  return *best;
}

std::vector<MountEntry> famfs_mounts() {
  std::vector<MountEntry> out;
  for (MountEntry& m : parse_mounts(read_proc_mounts()))
    if (m.fstype == kFamfsFstype) out.push_back(std::move(m));
  return out;
}

std::optional<std::string> canonical_path(const std::string& path, int* err) {
  std::unique_ptr<char, decltype(&::free)> r(::realpath(path.c_str(), nullptr), &::free);
  if (!r) {
    if (err) *err = errno;
    return std::nullopt;
  }
  return std::string(r.get());
}

std::string resolve_path(const std::string& path) {
  std::string abs = path;
  if (abs.empty() || abs[0] != '/') {
    char cwd[PATH_MAX];
    if (!::getcwd(cwd, sizeof cwd)) return path;
    abs = std::string(cwd) + "/" + path;
  }
  // Walk up until an ancestor resolves, remembering the components that did not.
  std::vector<std::string> rest;
  std::string head = abs;
  std::string resolved;
  while (true) {
    resolved = realpath_of(head);
    if (!resolved.empty()) break;
    auto slash = head.find_last_of('/');
    if (slash == std::string::npos) return abs;
    rest.push_back(head.substr(slash + 1));
    head = slash == 0 ? "/" : head.substr(0, slash);
  }
  for (auto it = rest.rbegin(); it != rest.rend(); ++it) {
    const std::string& c = *it;
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      auto slash = resolved.find_last_of('/');
      resolved = slash == 0 || slash == std::string::npos ? "/" : resolved.substr(0, slash);
      continue;
    }
    if (resolved != "/") resolved += '/';
    resolved += c;
  }
  return resolved;
}

std::optional<MountEntry> famfs_mount_containing(const std::string& path) {
  return mount_containing(famfs_mounts(), resolve_path(path));
}

std::vector<MountEntry> famfs_mounts_of_device(const std::string& device) {
  std::vector<MountEntry> out;
  const auto id = device_id_of_path(device);
  std::string want = realpath_of(device);
  if (want.empty()) want = device;
  for (MountEntry& m : famfs_mounts()) {
    // By identity first: a hard link, bind mount or second node names the same device.
    const auto other = id ? device_id_of_path(m.device) : std::nullopt;
    std::string have = other ? std::string() : realpath_of(m.device);
    if (!other && have.empty()) have = m.device;
    if (other ? *other == *id : have == want) out.push_back(std::move(m));
  }
  return out;
}

} // namespace famfs::dax
