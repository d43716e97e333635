// The host identity (spec B§2.2, Part A §2): /opt/famfs/system_uuid, overridable so that
// several simulated hosts can share one machine.
#pragma once

#include <optional>
#include <string>

#include "meta/superblock.hpp"

namespace famfs::dax {

inline constexpr const char* kDefaultSystemUuidFile = "/opt/famfs/system_uuid";
inline constexpr const char* kSystemUuidEnv = "FAMFS_SYSTEM_UUID_FILE";

// The path to use: `option` if non-empty, else $FAMFS_SYSTEM_UUID_FILE if set, else the default.
std::string system_uuid_path(const std::string& option = {});

// Read as upstream: up to 36 non-space characters, uuid_parse. nullopt when missing or bad
// (upstream deletes a file it cannot read; we leave it and report).
std::optional<Uuid> read_system_uuid(const std::string& path);

// Read, or create exactly as upstream: mkdir parent 0755, file mode 0444, 36 lowercase chars
// plus a NUL, no newline. Throws famfs::Error on failure.
Uuid get_or_create_system_uuid(const std::string& path);

} // namespace famfs::dax
