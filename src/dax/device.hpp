// A famfs device: a device-DAX character device (/dev/daxX.Y, probed through libdaxctl) or a
// regular image file (development and tests; tmpfs or hugetlbfs), opened as an RAII object.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace famfs::dax {

enum class DeviceKind { DaxChar, ImageFile };

struct DeviceInfo {
  std::string path;       // as given (absolute when opened by the daemon)
  DeviceKind kind = DeviceKind::ImageFile;
  uint64_t size = 0;      // bytes usable
  uint64_t align = 0;     // mapping alignment (device-dax: its align attribute; images: 2 MiB)
};

// Open and check. Throws famfs::Error with a message naming the device and what to do for:
// missing/unreadable path, a block device or other non-dax character device, a dax device in
// system-ram mode, a device smaller than `min_size` (pass 0 to skip), a directory.
class Device {
 public:
  static Device open(const std::string& path, bool writable, uint64_t min_size = 0);
  Device(Device&&) noexcept;
  Device& operator=(Device&&) noexcept;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  ~Device();

  const DeviceInfo& info() const { return info_; }
  int fd() const { return fd_; }
  bool writable() const { return writable_; }

 private:
  Device(int fd, DeviceInfo info, bool writable);
  int fd_ = -1;
  DeviceInfo info_;
  bool writable_ = false;
};

// Every device-dax instance libdaxctl knows, as `daxctl list` shows them (famfs status with
// no argument). Empty when libdaxctl cannot start or there are none.
struct DaxListing {
  std::string path;        // "/dev/dax0.0"
  uint64_t size = 0;
  bool enabled = false;
  bool system_ram = false; // bound to kmem: not usable for famfs
};
std::vector<DaxListing> list_dax_devices();

// Probe without keeping it open (used by status and error messages).
DeviceInfo probe_device(const std::string& path);

// mkfs.famfs -M: if `path` names a device-dax device (/dev/daxX.Y, by its name) that is in
// system-ram mode, offline its memory and rebind it to the devdax driver, as
// `daxctl reconfigure-device --mode=devdax` does, then wait for the /dev node. Returns true if
// it changed the mode, false if there was nothing to do. Throws famfs::Error on failure.
bool reconfigure_to_devdax(const std::string& path);

} // namespace famfs::dax
