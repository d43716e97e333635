// famfs status: one mount (as before), or every famfs mount and famfs-formatted dax device of
// the host (no argument), as text, JSON (nlohmann-json; an array for the host listing, as
// `daxctl list`) or Prometheus text exposition (--prometheus). Reads the daemon's
// user.famfs.status; works on every host.
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "cli/master_common.hpp"
#include "cli/master_ops.hpp"
#include "cli/util.hpp"
#include "dax/device.hpp"
#include "dax/identity.hpp"
#include "dax/mapping.hpp"
#include "dax/mounts.hpp"
#include "master/paths.hpp"
#include "master/reports.hpp"
#include "meta/error.hpp"
#include "meta/superblock.hpp"
#include "proto/json_text.hpp"
#include "proto/xattr.h"

namespace famfs::cli::master {

namespace fm = famfs::master;
using proto::Json;
using proto::json_text;

namespace {

std::string fmt_time_ms(int64_t unix_ms) {
  if (unix_ms <= 0) return "never";
  time_t t = time_t(unix_ms / 1000);
  struct tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  struct timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t now_ms = int64_t(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
  double ago = double(now_ms - unix_ms) / 1000.0;
  char out[128];
  std::snprintf(out, sizeof out, "%s (%.1f s ago)", buf, ago < 0 ? 0.0 : ago);
  return out;
}

std::string pct(uint64_t a, uint64_t b) {
  if (!b) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, " (%.1f%%)", 100.0 * double(a) / double(b));
  return buf;
}

} // namespace

namespace {

// Who is the master: the superblock says (read through the mount; works on clients). "" when
// it cannot be read.
std::string master_uuid_of(const MountInfo& m) {
  try {
    omf::Superblock sb = fm::read_mount_superblock(m);
    if (sb_usable(check_superblock(sb))) return uuid_to_string(sb.ts_system_uuid);
  } catch (const Error&) {
  }
  return {};
}

void print_status(const fm::JsonReport& s, const MountInfo& m, const std::string& master_uuid) {
  uint64_t cap = s.u64("capacity_bytes"), freeb = s.u64("free_bytes"),
           alloc = s.u64("allocated_bytes");
  uint64_t used_e = s.u64("entries_used"), tot_e = s.u64("entries_total");
  std::string role = s.str("role", "unknown");
  std::printf("famfs status of %s\n", m.mpt.c_str());
  auto row = [](const char* k, const std::string& v) { std::printf("  %-18s %s\n", k, v.c_str()); };
  std::string role_line = role;
  if (role == "master") role_line += " (this host owns the file system and may add files)";
  else if (role == "client") role_line += " (read-only view: files are added on the master)";
  row("role:", role_line);
  row("this host:", s.str("system_uuid", "?"));
  row("master:", master_uuid.empty() ? std::string("unknown (superblock unreadable)") : master_uuid);
  row("device:", s.str("device", m.device));
  row("fs uuid:", s.str("fs_uuid", "?"));
  row("capacity:", human_bytes(cap) + " (" + std::to_string(cap) + " bytes)");
  row("used:", human_bytes(alloc) + pct(alloc, cap));
  row("free:", human_bytes(freeb) + pct(freeb, cap));
  row("log entries:", std::to_string(used_e) + " of " + std::to_string(tot_e) + " used" + pct(used_e, tot_e) +
                          ", " + std::to_string(tot_e > used_e ? tot_e - used_e : 0) + " free");
  row("files:", std::to_string(s.u64("files")));
  row("directories:", std::to_string(s.u64("directories")));
  row("last replay:", fmt_time_ms(s.i64("last_replay_unix_ms")));
  {
    char buf[64];
    if (auto lag = s.number("replay_lag_ms")) std::snprintf(buf, sizeof buf, "%.1f ms", *lag);
    else std::snprintf(buf, sizeof buf, "n/a");
    row("replay lag:", buf);
  }
  row("poll interval:", std::to_string(s.u64("refresh_ms")) + " ms");
  bool damaged = s.flag("damaged");
  std::string dline = damaged ? "YES" : "no";
  if (damaged) {
    if (auto di = s.number_text("damage_index")) dline += " at entry " + *di;
    std::string r = s.str("damage_reason");
    if (!r.empty()) dline += ": " + r;
    dline += " (files after it are not shown; run famfs fsck " + m.mpt + ")";
  }
  row("damaged log:", dline);
  row("skipped entries:", std::to_string(s.u64("skipped_entries")));
  row("cross-links:", std::to_string(s.u64("collisions")) + " allocation units claimed twice");
  row("read-only mount:", s.flag("read_only") ? "yes" : "no");
}

} // namespace

namespace {

// One mount's state: the daemon's status object plus what only the CLI knows (mountpoint,
// master_system_uuid), or why there is none.
struct MountState {
  MountInfo m;
  std::optional<Json> status;
  std::string error;
};

MountState mount_state(const MountInfo& m) {
  MountState s{m, std::nullopt, {}};
  int err = 0;
  auto raw = get_xattr(m.mpt, FAMFS_XATTR_STATUS, &err);
  if (!raw) {
    std::string options; // of the mount, for who may use it
    for (const auto& e : dax::famfs_mounts())
      if (e.mountpoint == m.mpt) options = e.options;
    if (auto why = fuse_access_denied(m.mpt, options, err))
      s.error = *why;
    else if (err == ENOTCONN)
      s.error = "the famfs daemon of " + m.mpt + " is not running; run 'famfs umount " + m.mpt +
                "', then mount again";
    else
      s.error = "the famfs daemon of " + m.mpt + " gave no status (user.famfs.status: " +
                errno_text(err) + "); is it running famfs-fused from this release?";
    return s;
  }
  Json j = Json::parse(*raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    s.error = "the famfs daemon of " + m.mpt + " returned a status that is not a JSON object";
    return s;
  }
  if (!j.contains("mountpoint")) j["mountpoint"] = m.mpt;
  if (!j.contains("master_system_uuid")) {
    std::string u = master_uuid_of(m);
    j["master_system_uuid"] = u.empty() ? Json(nullptr) : Json(u);
  }
  s.status = std::move(j);
  return s;
}

// Every famfs mount of the host; untrusted mounts (made by another user) carry the refusal.
std::vector<MountState> all_mounts() {
  std::vector<MountState> out;
  for (const auto& e : dax::famfs_mounts()) {
    try {
      out.push_back(mount_state(fm::mount_of_existing(e.mountpoint)));
    } catch (const Error& ex) {
      out.push_back(MountState{MountInfo{e.mountpoint, e.device, false}, std::nullopt, ex.what()});
    }
  }
  return out;
}

// A famfs-formatted dax device that no famfs mount of this host serves.
struct DeviceState {
  std::string device;
  uint64_t size = 0;
  omf::Superblock sb{};
  Role role = Role::Client;
};

bool is_mounted(const std::string& device, const std::vector<MountState>& mounts) {
  auto canon = dax::canonical_path(device);
  for (const auto& m : mounts) {
    if (m.m.device == device) return true;
    auto c = dax::canonical_path(m.m.device);
    if (canon && c && *canon == *c) return true;
  }
  return false;
}

// Devices in devdax mode with a valid famfs superblock; those that cannot be read are named
// in `unreadable` (opening a dax device needs root).
std::vector<DeviceState> unmounted_devices(const std::vector<MountState>& mounts,
                                           const std::string& uuid_file,
                                           std::vector<std::string>& unreadable) {
  std::vector<DeviceState> out;
  auto id = dax::read_system_uuid(dax::system_uuid_path(uuid_file));
  for (const auto& d : dax::list_dax_devices()) {
    if (d.system_ram || !d.enabled || is_mounted(d.path, mounts)) continue;
    try {
      dax::Device dev = dax::Device::open(d.path, false);
      dax::Mapping map = dax::Mapping::map(dev, false);
      omf::Superblock sb = read_superblock(map.cbytes());
      if (!sb_usable(check_superblock(sb))) continue; // not famfs
      out.push_back(DeviceState{d.path, d.size, sb, role_of(sb, id ? &*id : nullptr)});
    } catch (const Error& e) {
      unreadable.push_back(d.path + ": " + e.what());
    }
  }
  return out;
}

// The text report of a mount that has a status.
// Delete (docs/delete.md): the feature, the space the reuse rule holds and who holds it.
void print_delete(const Json& st) {
  auto row = [](const char* k, const std::string& v) { std::printf("  %-18s %s\n", k, v.c_str()); };
  const auto d = st.find("delete");
  if (d == st.end() || !d->is_object()) return;
  const bool on = d->value("enabled", false);
  if (!on) {
    row("delete:", "not enabled (famfs feature enable delete on the master)");
    return;
  }
  row("delete:", "enabled (host lease " + std::to_string(d->value("lease_ms", 0u)) + " ms, " +
                     std::to_string(d->value("deletes", uint64_t{0})) + " deletes replayed)");
  if (!d->value("serving", true))
    row("serving:", "NO: this host may have been considered gone; catching up with the log");
  const uint64_t pend = d->value("pending_reuse_bytes", uint64_t{0});
  row("pending reuse:", human_bytes(pend) + " (" + std::to_string(pend) + " bytes)" +
                            (pend ? ", held by:" : ""));
  if (const auto p = d->find("pending"); p != d->end() && p->is_array())
    for (const Json& x : *p)
      std::printf("    %s (%s): host %s %s %s\n", x.value("path", "").c_str(),
                  human_bytes(x.value("bytes", uint64_t{0})).c_str(),
                  x.value("held_by", "").c_str(), x.value("held_by_hostname", "").c_str(),
                  x.value("why", "").c_str());
  const auto h = d->find("hosts");
  row("hosts:", std::to_string(h != d->end() && h->is_array() ? h->size() : 0) +
                    " registered (famfs hosts)");
}

void print_mount(const MountState& s) {
  auto r = fm::JsonReport::parse(json_text(*s.status));
  auto it = s.status->find("master_system_uuid");
  bool known = it != s.status->end() && it->is_string();
  print_status(*r, s.m, known ? it->get<std::string>() : std::string());
  print_delete(*s.status);
}

Json device_json(const DeviceState& d) {
  Json j;
  j["kind"] = "device";
  j["device"] = d.device;
  j["mounted"] = false;
  j["capacity_bytes"] = d.size;
  j["fs_uuid"] = uuid_to_string(d.sb.ts_uuid);
  j["master_system_uuid"] = uuid_to_string(d.sb.ts_system_uuid);
  j["role"] = d.role == Role::Master ? "master" : "client";
  return j;
}

Json mount_json(const MountState& s) {
  Json j;
  j["kind"] = "mount";
  if (s.status) {
    for (auto it = s.status->begin(); it != s.status->end(); ++it) j[it.key()] = it.value();
  } else {
    j["mountpoint"] = s.m.mpt;
    j["device"] = s.m.device;
    j["error"] = s.error;
  }
  return j;
}

void print_device(const DeviceState& d) {
  std::printf("famfs device %s (not mounted)\n", d.device.c_str());
  auto row = [](const char* k, const std::string& v) { std::printf("  %-18s %s\n", k, v.c_str()); };
  row("role:", d.role == Role::Master ? "master (this host may mount it and add files)"
                                      : "client (mount it to read the master's files)");
  row("master:", uuid_to_string(d.sb.ts_system_uuid));
  row("fs uuid:", uuid_to_string(d.sb.ts_uuid));
  row("capacity:", human_bytes(d.size) + " (" + std::to_string(d.size) + " bytes)");
}

// ---- Prometheus text exposition (version 0.0.4) ---------------------------------------------

// A label value: backslash, double quote and newline escaped.
std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

struct Metric {
  const char* name;
  const char* help;
  // The sample of one mount's status, if it has one.
  std::optional<double> (*value)(const fm::JsonReport& s);
};

std::optional<double> num(const fm::JsonReport& s, const char* key) {
  if (!s.has(key)) return std::nullopt;
  return s.number(key);
}

const Metric kMetrics[] = {
    {"famfs_capacity_bytes", "Size of the file system's device in bytes.",
     [](const fm::JsonReport& s) { return num(s, "capacity_bytes"); }},
    {"famfs_free_bytes", "Bytes not allocated to any file.",
     [](const fm::JsonReport& s) { return num(s, "free_bytes"); }},
    {"famfs_log_entries_used", "Log entries in use.",
     [](const fm::JsonReport& s) { return num(s, "entries_used"); }},
    {"famfs_log_entries_total", "Log entries the log can hold.",
     [](const fm::JsonReport& s) { return num(s, "entries_total"); }},
    {"famfs_files", "Files the mount serves.",
     [](const fm::JsonReport& s) { return num(s, "files"); }},
    {"famfs_replay_lag_seconds", "Time from a log append to its replay on this host.",
     [](const fm::JsonReport& s) -> std::optional<double> {
       auto ms = num(s, "replay_lag_ms");
       if (!ms) return std::nullopt;
       return *ms / 1000.0;
     }},
    {"famfs_skipped_entries", "Log entries the replay rejected (path or extent rules).",
     [](const fm::JsonReport& s) { return num(s, "skipped_entries"); }},
    {"famfs_collisions", "Allocation units claimed by more than one file (cross-links).",
     [](const fm::JsonReport& s) { return num(s, "collisions"); }},
    {"famfs_log_damaged", "1 when the log is damaged (replay stopped at a bad entry), else 0.",
     [](const fm::JsonReport& s) -> std::optional<double> { return s.flag("damaged") ? 1.0 : 0.0; }},
};

std::string sample_value(double v) {
  char buf[64];
  if (v == double(uint64_t(v)) && v < 1e18) std::snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
  else std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void print_prometheus(const std::vector<MountState>& mounts) {
  std::vector<std::pair<std::string, std::optional<fm::JsonReport>>> rows;
  for (const auto& m : mounts) {
    std::string labels = "mountpoint=\"" + label_value(m.m.mpt) + "\",device=\"" +
                         label_value(m.status ? m.status->value("device", m.m.device) : m.m.device) + "\"";
    std::optional<fm::JsonReport> r;
    if (m.status) r = fm::JsonReport::parse(json_text(*m.status));
    rows.emplace_back(labels, std::move(r));
  }
  std::printf("# HELP famfs_up 1 when the mount's daemon answered with its status, else 0.\n"
              "# TYPE famfs_up gauge\n");
  for (const auto& [labels, r] : rows) std::printf("famfs_up{%s} %d\n", labels.c_str(), r ? 1 : 0);
  for (const Metric& mt : kMetrics) {
    std::printf("# HELP %s %s\n# TYPE %s gauge\n", mt.name, mt.help, mt.name);
    for (const auto& [labels, r] : rows) {
      if (!r) continue;
      if (auto v = mt.value(*r))
        std::printf("%s{%s} %s\n", mt.name, labels.c_str(), sample_value(*v).c_str());
    }
  }
}

// ---- the host listing ----------------------------------------------------------------------

int status_all(const StatusOpts& o, const std::string& prog) {
  std::vector<MountState> mounts = all_mounts();
  int rc = 0;
  for (const auto& m : mounts)
    if (!m.status) {
      print_error(prog, m.error);
      rc = 1;
    }
  if (o.prometheus) {
    print_prometheus(mounts);
    return rc;
  }
  std::vector<std::string> unreadable;
  std::vector<DeviceState> devices = unmounted_devices(mounts, o.uuid_file, unreadable);
  for (const auto& u : unreadable)
    print_warning(prog, "cannot read " + u + " (reading a dax device needs root); not listed");
  if (o.json) {
    Json arr = Json::array();
    for (const auto& m : mounts) arr.push_back(mount_json(m));
    for (const auto& d : devices) arr.push_back(device_json(d));
    std::printf("%s\n", json_text(arr, 2).c_str());
    return rc;
  }
  if (mounts.empty() && devices.empty())
    std::printf("famfs status: no famfs mounts and no famfs-formatted dax devices on this host\n");
  bool first = true;
  for (const auto& m : mounts) {
    if (!m.status) continue;
    if (!first) std::printf("\n");
    first = false;
    print_mount(m);
  }
  for (const auto& d : devices) {
    if (!first) std::printf("\n");
    first = false;
    print_device(d);
  }
  return rc;
}

} // namespace

int run_status(const StatusOpts& o) {
  const std::string prog = "famfs status";
  try {
    if (o.json && o.prometheus) throw Error(EINVAL, "--json and --prometheus are mutually exclusive");
    if (o.path.empty()) return status_all(o, prog);
    MountState s = mount_state(fm::mount_of_existing(o.path));
    if (!s.status) throw Error(EIO, s.error);
    if (o.prometheus) print_prometheus({s});
    else if (o.json) std::printf("%s\n", json_text(*s.status).c_str());
    else print_mount(s);
    return 0;
  } catch (const Error& e) {
    print_error(prog, e.what());
    return 1;
  }
}

} // namespace famfs::cli::master
