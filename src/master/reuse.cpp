// The reuse rule on the master (reuse.hpp).
#include "master/reuse.hpp"

#include "meta/extension.hpp"

namespace famfs::master {

Bitmap reuse_bitmap(const SpaceMap& space, std::span<const std::byte> device, const CacheOps& cache) {
  if (space.deleted().empty()) return space.bitmap();
  const ext::HeaderRead h = ext::read_header_now(device, cache);
  std::vector<ext::HostView> hosts;
  if (ext::delete_enabled(h) && space.stats().collisions == 0)
    hosts = ext::read_hosts(device, h.header, cache);
  if (hosts.empty()) return space.allocation_bitmap([](const DeletedSpace&) { return false; });
  return space.allocation_bitmap([&](const DeletedSpace& d) {
    return ext::reusable(d.delete_index, d.target_index, hosts);
  });
}

} // namespace famfs::master
