// Opening a famfs device: device-DAX character devices are identified and sized through
// libdaxctl (matched by major:minor), image files by fstat. Every refusal names the path and
// says what to do about it, because these are the errors an operator meets first.
#include "dax/device.hpp"

#include <daxctl/libdaxctl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "meta/error.hpp"

namespace famfs::dax {

namespace {

constexpr uint64_t kImageAlign = 2ull << 20;

std::string human_size(uint64_t bytes) {
  char buf[64];
  if (bytes >= (1ull << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / double(1ull << 30));
  else
    std::snprintf(buf, sizeof buf, "%.2f MiB", double(bytes) / double(1ull << 20));
  return buf;
}

// libdaxctl context, released on every path out.
struct CtxDeleter {
  void operator()(daxctl_ctx* c) const { daxctl_unref(c); }
};
using CtxPtr = std::unique_ptr<daxctl_ctx, CtxDeleter>;

CtxPtr daxctl_context() {
  daxctl_ctx* c = nullptr;
  int rc = daxctl_new(&c);
  if (rc < 0 || !c) return nullptr;
  // libdaxctl logs to stderr by default at error level; our own messages say it better.
  daxctl_set_log_priority(c, 0);
  return CtxPtr(c);
}

// What libdaxctl knows about one device-dax instance.
struct DaxFacts {
  std::string devname;   // "dax0.0"
  uint64_t size = 0;
  uint64_t align = 0;
  bool enabled = false;
  bool system_ram = false; // bound to kmem: its memory belongs to the page allocator
};

template <typename Match>
std::optional<DaxFacts> find_dax(Match match) {
  CtxPtr ctx = daxctl_context();
  if (!ctx) return std::nullopt;
  daxctl_region* region;
  daxctl_region_foreach(ctx.get(), region) {
    daxctl_dev* dev;
    daxctl_dev_foreach(region, dev) {
      if (!match(dev)) continue;
      DaxFacts f;
      const char* name = daxctl_dev_get_devname(dev);
      f.devname = name ? name : "";
      f.size = daxctl_dev_get_size(dev);
      f.align = daxctl_dev_get_align(dev);
      f.enabled = daxctl_dev_is_enabled(dev) != 0;
      // libdaxctl sets up the memory object only for a device bound to the kmem driver
      // (what `daxctl list` reports as mode "system-ram").
      f.system_ram = daxctl_dev_get_memory(dev) != nullptr;
      return f;
    }
  }
  return std::nullopt;
}

std::optional<DaxFacts> find_dax_by_devt(dev_t rdev) {
  return find_dax([rdev](daxctl_dev* d) {
    return daxctl_dev_get_major(d) == int(major(rdev)) &&
           daxctl_dev_get_minor(d) == int(minor(rdev));
  });
}

std::optional<DaxFacts> find_dax_by_name(const std::string& name) {
  return find_dax([&name](daxctl_dev* d) {
    const char* n = daxctl_dev_get_devname(d);
    return n && name == n;
  });
}

std::vector<DaxFacts> all_dax() {
  std::vector<DaxFacts> out;
  (void)find_dax([&out](daxctl_dev* d) {
    DaxFacts f;
    const char* name = daxctl_dev_get_devname(d);
    f.devname = name ? name : "";
    f.size = daxctl_dev_get_size(d);
    f.enabled = daxctl_dev_is_enabled(d) != 0;
    f.system_ram = daxctl_dev_get_memory(d) != nullptr;
    out.push_back(std::move(f));
    return false; // visit every device
  });
  return out;
}

std::string basename_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

[[noreturn]] void system_ram_error(const std::string& path, const std::string& devname) {
  throw Error(EINVAL, path + ": device-dax " + devname +
                          " is in system-ram mode (its memory is online as normal RAM); "
                          "famfs needs it in devdax mode: run 'daxctl reconfigure-device "
                          "--mode=devdax " + devname + "' (or mkfs.famfs -M, which does it)");
}

// The error for a path we could not stat or open.
[[noreturn]] void open_error(const std::string& path, int err, bool writable) {
  if (err == ENOENT) {
    // A dax device reconfigured as system-ram loses its /dev node; say so instead of
    // "no such file".
    std::string name = basename_of(path);
    if (name.rfind("dax", 0) == 0) {
      if (auto f = find_dax_by_name(name); f && f->system_ram) system_ram_error(path, name);
    }
    throw Error(ENOENT, path + ": no such device or file; check the path (device-dax devices "
                              "are listed by 'daxctl list')");
  }
  if (err == EACCES || err == EPERM)
    throw Error(err, path + ": permission denied opening it " +
                         (writable ? "read-write" : "read-only") +
                         "; run as root or grant this user access to the device");
  throw Error(err, path + ": cannot open: " + std::strerror(err));
}

// Classify what a stat says; throws the refusal for anything famfs cannot use.
DeviceInfo classify(const std::string& path, const struct stat& st) {
  DeviceInfo info;
  info.path = path;
  if (S_ISDIR(st.st_mode))
    throw Error(EISDIR, path + ": is a directory; give a device-dax device (/dev/daxX.Y) or "
                               "an image file");
  if (S_ISBLK(st.st_mode))
    throw Error(ENODEV, path + ": is a block device; famfs needs a device-dax character "
                               "device (/dev/daxX.Y; see 'daxctl list' and "
                               "'ndctl create-namespace --mode=devdax') or an image file");
  if (S_ISREG(st.st_mode)) {
    info.kind = DeviceKind::ImageFile;
    info.size = uint64_t(st.st_size);
    info.align = kImageAlign;
    return info;
  }
  if (S_ISCHR(st.st_mode)) {
    std::optional<DaxFacts> f = find_dax_by_devt(st.st_rdev);
    if (!f)
      throw Error(ENODEV, path + ": is a character device (" + std::to_string(major(st.st_rdev)) +
                              ":" + std::to_string(minor(st.st_rdev)) +
                              ") but not a device-dax device; 'daxctl list' shows the "
                              "device-dax devices of this host");
    if (f->system_ram) system_ram_error(path, f->devname);
    if (!f->enabled)
      throw Error(ENODEV, path + ": device-dax " + f->devname +
                              " is disabled; run 'daxctl enable-device " + f->devname + "'");
    info.kind = DeviceKind::DaxChar;
    info.size = f->size;
    info.align = f->align ? f->align : kImageAlign;
    return info;
  }
  throw Error(ENODEV, path + ": is neither a device-dax device nor a regular image file");
}

void check_min_size(const DeviceInfo& info, uint64_t min_size) {
  if (min_size && info.size < min_size)
    throw Error(EINVAL, info.path + ": is " + std::to_string(info.size) + " bytes (" +
                            human_size(info.size) + "); famfs needs at least " +
                            std::to_string(min_size) + " bytes (" + human_size(min_size) +
                            ")" +
                            (info.kind == DeviceKind::ImageFile
                                 ? "; grow the image (truncate -s 4G FILE)"
                                 : "; use a larger device-dax device"));
}

} // namespace

Device::Device(int fd, DeviceInfo info, bool writable)
    : fd_(fd), info_(std::move(info)), writable_(writable) {}

Device::Device(Device&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), info_(std::move(o.info_)), writable_(o.writable_) {}

Device& Device::operator=(Device&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    info_ = std::move(o.info_);
    writable_ = o.writable_;
  }
  return *this;
}

Device::~Device() {
  if (fd_ >= 0) ::close(fd_);
}

Device Device::open(const std::string& path, bool writable, uint64_t min_size) {
  // Classify before opening: a directory or a block device gets its own message rather than
  // whatever open() says, and a character device is opened only once libdaxctl has confirmed
  // it is device-dax (opening an arbitrary device, say a tape, can have side effects).
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) open_error(path, errno, writable);
  classify(path, st);

  int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) open_error(path, errno, writable);
  Device dev(fd, {}, writable); // owns fd from here on

  // Classify what we actually opened (the path may have changed since the stat).
  if (::fstat(fd, &st) != 0)
    throw Error(errno, path + ": cannot stat the opened device: " + std::strerror(errno));
  dev.info_ = classify(path, st);
  check_min_size(dev.info_, min_size);
  return dev;
}

bool reconfigure_to_devdax(const std::string& path) {
  const std::string name = basename_of(path);
  CtxPtr ctx = daxctl_context();
  if (!ctx) return false;
  daxctl_region* region;
  daxctl_region_foreach(ctx.get(), region) {
    daxctl_dev* dev;
    daxctl_dev_foreach(region, dev) {
      const char* n = daxctl_dev_get_devname(dev);
      if (!n || name != n) continue;
      daxctl_memory* mem = daxctl_dev_get_memory(dev);
      if (!mem) return false; // already devdax (or not kmem-capable): nothing to do
      if (daxctl_memory_is_online(mem) > 0) {
        int rc = daxctl_memory_offline(mem);
        if (rc < 0 || daxctl_memory_is_online(mem) > 0)
          throw Error(rc < 0 ? -rc : EBUSY,
                      path + ": cannot offline the system-ram memory of " + name +
                          " (it may be in use); free it or move tasks off its NUMA node, then "
                          "run 'daxctl reconfigure-device --mode=devdax " + name + "'");
      }
      if (int rc = daxctl_dev_disable(dev); rc < 0)
        throw Error(-rc, path + ": cannot disable " + name + " to change its mode: " +
                             std::strerror(-rc));
      if (int rc = daxctl_dev_enable_devdax(dev); rc < 0)
        throw Error(-rc, path + ": cannot enable " + name + " in devdax mode: " +
                             std::strerror(-rc) + "; try 'daxctl reconfigure-device "
                             "--mode=devdax " + name + "'");
      // udev creates the character device asynchronously; give it a few seconds.
      struct stat st {};
      for (int i = 0; i < 50 && ::stat(path.c_str(), &st) != 0; ++i) ::usleep(100000);
      return true;
    }
  }
  return false;
}

DeviceInfo probe_device(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) open_error(path, errno, false);
  return classify(path, st);
}

std::vector<DaxListing> list_dax_devices() {
  std::vector<DaxListing> out;
  for (auto& f : all_dax()) {
    if (f.devname.empty()) continue;
    out.push_back(DaxListing{"/dev/" + f.devname, f.size, f.enabled, f.system_ram});
  }
  return out;
}

} // namespace famfs::dax
