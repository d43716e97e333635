// Per-file-system features in the extension area (docs/format-extensions.md): enabling delete
// on the master, and the one test every master operation makes before it deletes.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "meta/cacheops.hpp"
#include "meta/extension.hpp"

namespace famfs::master {

// Write the extension header with the DELETE feature into `device` (the master's read-write
// mapping, under the writer lock): a header that is absent or not valid is replaced by a fresh
// one, and the eviction table and host slots are zeroed first (upstream's mkfs leaves stale
// bytes there); a valid header keeps its lease and gets the bit. Flushed in that order, the
// header last. Returns false when delete was already enabled (nothing written).
bool enable_delete(std::span<std::byte> device, const CacheOps& cache,
                   uint32_t lease_ms = ext::kDefaultLeaseMs);

// EPERM with the command that enables it, when delete is not enabled on the famfs mounted at
// `mpt` (device = its mapping).
void require_delete(std::span<const std::byte> device, const CacheOps& cache, const std::string& mpt);

} // namespace famfs::master
