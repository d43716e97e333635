// Checking a file's contents against the B§8.5 pattern of a seed (famfs verify), or against
// another file (famfs cp -c), through the mount: works on every host.
#pragma once

#include <cstdint>
#include <string>

namespace famfs::master {

struct VerifyResult {
  enum class Status { Ok, Error, Mismatch };
  Status status = Status::Ok;
  std::string message; // Error: what went wrong (names the file and what to do)
  uint64_t offset = 0; // Mismatch: word-aligned file offset of the first difference
  uint64_t size = 0;   // the file's size
};
VerifyResult verify_file(const std::string& path, uint64_t seed);

// famfs cp -c/--compare: the copy `copy` against its source `source`, byte by byte (through
// the mount). Mismatch: `offset` is the first differing byte (or the shorter size when only
// the sizes differ); `size` is the source's size.
VerifyResult compare_files(const std::string& source, const std::string& copy);

} // namespace famfs::master
