#include "proto/fmap_text.hpp"

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "meta/numeric.hpp"

namespace famfs::proto {

std::string format_fmap_text(uint64_t size, const Fmap& fmap) {
  std::string s = "famfs-fmap 1\nsize " + hex(size) + "\n";
  if (fmap.kind == Fmap::Kind::Interleave)
    s += "interleave " + std::to_string(fmap.extents.size()) + " " + hex(fmap.chunk_size) + "\n";
  else
    s += "simple " + std::to_string(fmap.extents.size()) + "\n";
  for (const auto& e : fmap.extents) s += hex(e.offset) + " " + hex(e.len) + "\n";
  return s;
}

namespace {

// The non-empty lines of `text`, CRs dropped.
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t e = text.find('\n', pos);
    if (e == std::string_view::npos) e = text.size();
    std::string_view l = text.substr(pos, e - pos);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (!l.empty()) out.push_back(l);
    pos = e + 1;
  }
  return out;
}

// The blank-separated words of one line.
std::vector<std::string_view> words_of(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

// A non-negative C integer literal (decimal or 0x hex) that fits in 64 bits.
std::optional<uint64_t> number(std::string_view w) {
  if (w.empty() || w[0] < '0' || w[0] > '9') return std::nullopt;
  std::string t(w);
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(t.c_str(), &end, 0);
  if (errno || !end || *end) return std::nullopt;
  return v;
}

} // namespace

std::optional<FmapText> parse_fmap_text(std::string_view text, std::string* why) {
  auto fail = [&](const std::string& w) -> std::optional<FmapText> {
    if (why) *why = w;
    return std::nullopt;
  };
  auto lines = lines_of(text);
  if (lines.size() < 3 || lines[0].substr(0, 10) != "famfs-fmap") return fail("not a famfs-fmap text");
  FmapText x;
  auto size_line = words_of(lines[1]);
  std::optional<uint64_t> size;
  if (size_line.size() != 2 || size_line[0] != "size" || !(size = number(size_line[1])))
    return fail("no size line");
  x.size = *size;
  auto head = words_of(lines[2]);
  std::optional<uint64_t> count, chunk;
  if (head.size() == 2 && head[0] == "simple" && (count = number(head[1]))) {
    x.fmap.kind = Fmap::Kind::Simple;
  } else if (head.size() == 3 && head[0] == "interleave" && (count = number(head[1])) &&
             (chunk = number(head[2]))) {
    x.fmap.kind = Fmap::Kind::Interleave;
    x.fmap.chunk_size = *chunk;
  } else {
    return fail("bad extent header '" + std::string(lines[2]) + "'");
  }
  if (*count > kFmapTextMaxExtents || lines.size() - 3 < *count) return fail("extent lines missing");
  for (uint64_t i = 0; i < *count; ++i) {
    auto w = words_of(lines[3 + i]);
    std::optional<uint64_t> off, len;
    if (w.size() != 2 || !(off = number(w[0])) || !(len = number(w[1])))
      return fail("bad extent line '" + std::string(lines[3 + i]) + "'");
    x.fmap.extents.push_back({*off, *len});
  }
  return x;
}

} // namespace famfs::proto
