// One mount of a file system per host, checked by the daemon itself at start (issue 8 defect
// 2): famfs-fused is also started directly (famfs@.service, famfs-service start), not only by
// `famfs mount`, which runs the same check first. The rule: dax/device_id.hpp.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "daemon/daemon.hpp"
#include "dax/device_id.hpp"
#include "meta/error.hpp"

namespace famfs::daemon {

void Daemon::refuse_same_host_mount() {
  const auto id = dax::device_id_of_fd(dev_->fd());
  if (!id) return; // Device::open took only a file or a character device
  const dax::SameFsResult r =
      dax::find_same_fs_mount({*id, fs_uuid_text_, system_uuid_text_, ::getuid()});
  for (const std::string& s : r.ignored) spdlog::warn("another famfs mount: {}; ignoring it", s);
  if (r.found) throw Error(EBUSY, dax::same_fs_refusal(opt_.device, fs_uuid_text_, *r.found));
}

} // namespace famfs::daemon
