// famfs rm and famfs feature enable delete: argv -> src/master (remove.hpp, feature.hpp).
#include <dirent.h>

#include <algorithm>

#include <cerrno>
#include <cstdint>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/master_common.hpp"
#include "cli/master_ops.hpp"
#include "dax/cache.hpp"
#include "master/feature.hpp"
#include "master/remove.hpp"
#include "master/writer.hpp"
#include "meta/error.hpp"
#include "meta/extension.hpp"
#include "proto/xattr.h"

namespace famfs::cli::master {

namespace fm = famfs::master;

namespace {

// The names in a directory of the mount (what the master's daemon serves), without . and ..
std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return names;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  return names;
}

struct Group {
  MountInfo mount;
  std::vector<fm::RemoveItem> items;
};

// Each path as rm(1) sees it: the last component itself, not what a link would name. Paths
// in one mount go to one writer session, in the order given.
std::vector<Group> group_paths(const RmOpts& o, CliEvents& ev, uint64_t* failed) {
  std::vector<Group> groups;
  for (const std::string& p : o.paths) {
    try {
      fm::NewPath np = fm::resolve_new_path(p, false);
      if (groups.empty() || groups.back().mount.mpt != np.mount.mpt)
        groups.push_back({np.mount, {}});
      groups.back().items.push_back({p, np.relpath});
    } catch (const Error& e) {
      if (o.force && e.err() == ENOENT) continue;
      ev.error("cannot remove " + quote(p) + ": " + e.what());
      ++*failed;
    }
  }
  return groups;
}

} // namespace

int run_rm(const RmOpts& o) {
  CliEvents ev("famfs rm", o.verbose);
  try {
    if (o.paths.empty()) throw Error(EINVAL, "no path given: famfs rm [-r] [-f] PATH...");
    uint64_t failed = 0;
    for (Group& g : group_paths(o, ev, &failed)) {
      auto w = fm::Writer::open(g.mount, {o.uuid_file, "remove files", {}}, ev);
      fm::RemoveOptions ro;
      ro.recursive = o.recursive;
      ro.force = o.force;
      const std::string mpt = g.mount.mpt;
      ro.list = [mpt](const std::string& rel) { return list_dir(mpt + "/" + rel); };
      failed += fm::remove_paths(*w, g.items, ro, ev);
    }
    return failed ? 1 : 0;
  } catch (const Error& e) {
    ev.error(e.what());
    return 1;
  }
}

int run_feature(const FeatureOpts& o) {
  CliEvents ev("famfs feature");
  try {
    if (o.args.size() != 3 || o.args[0] != "enable")
      throw Error(EINVAL, "usage: famfs feature enable delete MOUNTPOINT");
    if (o.args[1] != "delete")
      throw Error(EINVAL, "unknown feature " + quote(o.args[1]) + "; the one feature is 'delete'");
    const uint64_t lease =
        o.lease_ms.empty() ? ext::kDefaultLeaseMs : parse_u64_arg(o.lease_ms, "--lease-ms");
    if (lease < ext::kDefaultHeartbeatMs * 10 || lease > UINT32_MAX)
      throw Error(EINVAL, "--lease-ms " + o.lease_ms + ": give at least " +
                              std::to_string(ext::kDefaultHeartbeatMs * 10) +
                              " (ten heartbeats) and at most " + std::to_string(UINT32_MAX));
    MountInfo m = fm::mount_of_existing(o.args[2]);
    auto w = fm::Writer::open(m, {o.uuid_file, "enable a feature", {}}, ev);
    if (!fm::enable_delete(w->device(), dax::cpu_cache_ops(), uint32_t(lease))) {
      std::printf("delete is already enabled on the famfs at %s\n", m.mpt.c_str());
      return 0;
    }
    std::printf("delete enabled on the famfs at %s (host lease %llu ms)\n", m.mpt.c_str(),
                static_cast<unsigned long long>(lease));
    ev.warning("upstream famfs hosts cannot see deletes: they keep showing deleted files, and "
               "once the space is reused they would show other files' bytes. Mount this file "
               "system only with this famfs from now on");
    return 0;
  } catch (const Error& e) {
    ev.error(e.what());
    return 1;
  }
}

namespace {

using Json = nlohmann::ordered_json;

// The "delete" object of the daemon's status (host slots as that host reads them).
Json delete_status(const MountInfo& m) {
  int err = 0;
  const std::optional<std::string> v = get_xattr(m.mpt, FAMFS_XATTR_STATUS, &err);
  if (!v)
    throw Error(err, "cannot read the status of the famfs daemon of " + m.mpt + " (" +
                         errno_text(err) + ")");
  const Json st = Json::parse(*v, nullptr, false);
  if (!st.is_object() || !st.contains("delete") || !st["delete"].is_object())
    throw Error(EPROTO, "the famfs daemon of " + m.mpt + " does not report host slots");
  return st["delete"];
}

void evict_host(const MountInfo& m, const HostsOpts& o, CliEvents& ev) {
  Uuid want{};
  if (!uuid_from_string(o.evict, want))
    throw Error(EINVAL, "--evict " + quote(o.evict) + " is not a UUID (famfs hosts lists them)");
  auto w = fm::Writer::open(m, {o.uuid_file, "evict a host", {}}, ev);
  const CacheOps cache = dax::cpu_cache_ops();
  const ext::HeaderRead h = ext::read_header_now(w->device(), cache);
  if (!ext::delete_enabled(h))
    throw Error(EPERM, "delete is not enabled on the famfs at " + m.mpt + ": there are no host "
                       "slots (famfs feature enable delete " + m.mpt + ")");
  for (const ext::HostView& v : ext::read_hosts(w->device(), h.header, cache)) {
    if (v.system_uuid != want) continue;
    if (v.evicted || !v.counts) {
      std::printf("host %s (%s, slot %u) is not counted already (%s)\n", o.evict.c_str(),
                  v.hostname.c_str(), v.slot, v.evicted ? "evicted" : "left");
      return;
    }
    ext::EvictionTable t = ext::read_evictions(w->device()).table;
    t.ev_gen[v.slot] = std::max(t.ev_gen[v.slot], v.generation);
    ext::write_evictions(w->device(), t);
    cache.flush(w->device().data() + ext::kEvictionOffset, sizeof(t));
    cache.fence();
    std::printf("evicted host %s (%s, slot %u, generation %llu): the master no longer waits "
                "for it; if it is still running it stops serving until it has replayed the log\n",
                o.evict.c_str(), v.hostname.c_str(), v.slot,
                static_cast<unsigned long long>(v.generation));
    return;
  }
  throw Error(ENOENT, "no host " + o.evict + " is registered in the famfs at " + m.mpt +
                          " (famfs hosts " + m.mpt + " lists them)");
}

std::string cell(const Json& h, const char* k) {
  const auto it = h.find(k);
  if (it == h.end() || it->is_null()) return "-";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

} // namespace

int run_hosts(const HostsOpts& o) {
  CliEvents ev("famfs hosts");
  try {
    MountInfo m = fm::mount_of_existing(o.path.empty() ? "." : o.path);
    if (!o.evict.empty()) {
      evict_host(m, o, ev);
      return 0;
    }
    const Json d = delete_status(m);
    if (o.json) {
      Json out;
      out["mountpoint"] = m.mpt;
      out["delete_enabled"] = d.value("enabled", false);
      out["lease_ms"] = d.value("lease_ms", 0u);
      out["hosts"] = d.value("hosts", Json::array());
      std::printf("%s\n", out.dump().c_str());
      return 0;
    }
    if (!d.value("enabled", false)) {
      std::printf("delete is not enabled on the famfs at %s: hosts do not register\n",
                  m.mpt.c_str());
      return 0;
    }
    std::printf("%-4s %-36s %-16s %-10s %-5s %-9s %-11s %s\n", "SLOT", "SYSTEM UUID", "HOSTNAME",
                "STATE", "GEN", "REPLAYED", "OLDEST OPEN", "COUNTED");
    for (const Json& h : d.value("hosts", Json::array()))
      std::printf("%-4s %-36s %-16s %-10s %-5s %-9s %-11s %s\n", cell(h, "slot").c_str(),
                  cell(h, "system_uuid").c_str(), cell(h, "hostname").c_str(),
                  (h.value("evicted", false) ? std::string("evicted") : cell(h, "state")).c_str(),
                  cell(h, "generation").c_str(), cell(h, "replayed").c_str(),
                  cell(h, "oldest_open").c_str(), h.value("counts", false) ? "yes" : "no");
    return 0;
  } catch (const Error& e) {
    ev.error(e.what());
    return 1;
  }
}

} // namespace famfs::cli::master
