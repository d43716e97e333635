// The text form of a file's extent map served as the user.famfs.fmap xattr (docs/design.md
// "Extended attributes"): written by the daemon, read by the CLI (getmap, flush, chkread).
// libfamfs has its own C parser (src/lib/famfs_core.c) of the same format.
//
//   famfs-fmap 1
//   size 0x<file size>
//   simple <n>                   | interleave <nstrips> 0x<chunk_size>
//   0x<dev offset> 0x<len>       (n or nstrips lines, in file order / strip order)
//
// Numbers are written in lowercase hex with 0x (counts in decimal); the parser takes any
// C integer literal (0x hex, decimal) as the CLI always has, skips empty lines and CRs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "meta/fmap.hpp"

namespace famfs::proto {

// More extent lines than this are refused by the parser (a valid map has at most 16).
inline constexpr uint64_t kFmapTextMaxExtents = 64;

struct FmapText {
  uint64_t size = 0; // file size in bytes
  Fmap fmap;
  bool operator==(const FmapText&) const = default;
};

std::string format_fmap_text(uint64_t size, const Fmap& fmap);
// nullopt (and *why, if given) when `text` is not in the format above.
std::optional<FmapText> parse_fmap_text(std::string_view text, std::string* why = nullptr);

} // namespace famfs::proto
