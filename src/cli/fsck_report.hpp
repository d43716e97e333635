// Presenting a famfs::FsckReport: upstream's human layout (spec B§8.2) followed by our
// problem list, a single JSON object, and the exit code. Shared by `famfs fsck` and mkfs.famfs
// (which prints the summary of the file system it just made).
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>

#include "meta/fsck.hpp"

namespace famfs::cli {

struct FsckPrintOptions {
  std::string device;        // path of what was checked (device or image)
  bool human = false;        // sizes as "%0.2fG" instead of bytes
  bool verbose = false;      // add upstream's "Verbose:" block (log_len, struct sizes)
  uint32_t nbuckets = 0;     // -B n: per-bucket free-space figures (needs `device_bytes`)
  bool problems = true;      // print the problem list after upstream's sections
};

// Allocated bytes as upstream reports them: every AU set in the bitmap (superblock and log
// region included), collisions counted once.
uint64_t fsck_allocated_bytes(const FsckReport& r);

void print_fsck_human(std::FILE* out, const FsckReport& r, std::span<const std::byte> device_bytes,
                      const FsckPrintOptions& o);

// One JSON object (no trailing newline). `host` is this host's identity, if known.
std::string fsck_json(const FsckReport& r, const std::string& device,
                      const std::optional<Uuid>& host);

// The JSON object of a check that cannot run (no trailing newline): the keys it shares with
// fsck_json (device, clean = false, exit_code) mean the same, plus `error`, the message.
std::string fsck_error_json(const std::string& device, const std::string& error, int exit_code);

// Upstream's meaning: the number of collisions (capped at 127) when there are any; 1 when
// anything else is wrong; 0 only when clean.
int fsck_exit_code(const FsckReport& r);

} // namespace famfs::cli
