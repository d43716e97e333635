// Surviving a device that shrinks under the mount (issue 8 defect 5): `truncate -s 1M IMG`
// while mounted turns every load or store past the new end into SIGBUS. The poller checks the
// device size (DeviceGuard::check) and from then on the daemon serves EIO for what is gone;
// for the race in between (an access already under way), a SIGBUS handler replaces the gone
// page of the mapping with an anonymous zero page, so the access completes and the daemon
// lives. Only addresses inside the registered mapping are handled; any other SIGBUS keeps
// its default action.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace famfs::daemon {

class DeviceGuard {
 public:
  // Install the SIGBUS handler for [base, base + len) (one mapping per process).
  static void install(std::byte* base, std::size_t len);
  // Pages replaced since start (read by the poller to log loudly).
  static uint64_t pages_replaced();
};

} // namespace famfs::daemon
