// Per-file-system features in the extension area (docs/format-extensions.md).
#include "master/feature.hpp"

#include <cerrno>
#include <cstring>

#include "meta/error.hpp"

namespace famfs::master {

bool enable_delete(std::span<std::byte> device, const CacheOps& cache, uint32_t lease_ms) {
  const ext::HeaderRead now = ext::read_header_now(device, cache);
  if (ext::delete_enabled(now)) return false;
  ext::Header h;
  if (now.status == ext::HeaderStatus::Valid) {
    h = now.header;
    h.ex_features |= ext::kFeatureDelete;
    ext::seal(h);
  } else {
    // Nobody registers before the feature is on, so the tables hold nothing of ours yet.
    const uint64_t end = ext::slot_offset(ext::kMaxHostSlots);
    if (device.size() < end)
      throw Error(EINVAL, "the device is too small for the famfs extension area");
    std::memset(device.data() + ext::kEvictionOffset, 0, end - ext::kEvictionOffset);
    ext::write_evictions(device, ext::EvictionTable{});
    cache.flush(device.data() + ext::kEvictionOffset, end - ext::kEvictionOffset);
    cache.fence();
    h = ext::make_header(ext::fs_uuid_of(device), ext::kFeatureDelete, lease_ms);
  }
  ext::write_header(device, h);
  cache.flush(device.data() + ext::kHeaderOffset, sizeof(h));
  cache.fence();
  return true;
}

void require_delete(std::span<const std::byte> device, const CacheOps& cache,
                    const std::string& mpt) {
  if (ext::delete_enabled(ext::read_header_now(device, cache))) return;
  throw Error(EPERM, "delete is not enabled on the famfs at " + mpt +
                         " (upstream famfs cannot delete); enable it with 'famfs feature enable "
                         "delete " + mpt + "' (every host of the file system must run this "
                         "famfs: see famfs(8))");
}

} // namespace famfs::master
