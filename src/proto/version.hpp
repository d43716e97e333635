// The one version line every famfs program prints for --version: the release (meson's
// project version, passed as FAMFS_PROJECT_VERSION by the build) and the on-media format it
// reads and writes.
#pragma once

#include <string>
#include <string_view>

#include "meta/omf.hpp"

#ifndef FAMFS_PROJECT_VERSION
#error "FAMFS_PROJECT_VERSION must be defined by the build (meson.project_version())"
#endif

namespace famfs {

inline std::string version_text(std::string_view prog) {
  return std::string(prog) + " " FAMFS_PROJECT_VERSION " (famfs FUSE edition; on-media format OMF " +
         std::to_string(omf::kOmfMajor) + "." + std::to_string(omf::kOmfMinor) +
         ", superblock version " + std::to_string(omf::kVersion) + ")";
}

} // namespace famfs
