// famfs logplay --shadow DIR: upstream's shadow tree (spec B§7), so that a host running
// upstream's FUSE edition can be fed from our tools. DIR/root holds one directory per famfs
// directory and, per famfs file, a regular file (mode 0644) whose contents are the YAML
// document upstream's famfs-fuse daemon parses; DIR/root/.meta holds the superblock and log
// files in the same form. The YAML is written with libyaml, as upstream does.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "meta/fmap.hpp"
#include "meta/superblock.hpp"

namespace famfs::cli {

// What the YAML of one file says (B§7.2).
struct ShadowFile {
  std::string path; // relative to the mount root
  uint64_t size = 0;
  uint32_t flags = 0;
  uint32_t mode = 0; // permission bits
  uint32_t uid = 0;
  uint32_t gid = 0;
  Fmap fmap;
};

// The document, byte for byte as upstream's emitter writes it ("---" ... "...\n"); nullopt
// with `why` when libyaml refuses the path (it must be valid UTF-8).
std::optional<std::string> shadow_yaml(const ShadowFile& f, std::string* why = nullptr);

struct ShadowOptions {
  std::string dir;       // the shadow path; the tree goes to dir/root
  bool dry_run = false;  // count only
  bool client = false;   // play as a client (.meta/.log 0444)
  bool test = false;     // -s: an existing shadow file must hold exactly what the log says
  bool verbose = false;
};

// Replay the log on `device` (the whole device, offset 0) into the shadow tree, print
// upstream's summary line ("famfs_logplay(shadow): N log entries; F new files; D new
// directories") and return the number of errors (skipped or damaged entries, files or
// directories that could not be written, and with `test`, shadow files that differ).
int shadow_logplay(std::span<const std::byte> device, const std::optional<Uuid>& host,
                   const ShadowOptions& o);

} // namespace famfs::cli
