#include "master/check.hpp"

#include <algorithm>
#include <cerrno>
#include <string>

#include "dax/cache.hpp"
#include "dax/device.hpp"
#include "dax/mapping.hpp"
#include "master/reports.hpp"
#include "master/text.hpp"
#include "meta/error.hpp"
#include "meta/geometry.hpp"
#include "meta/log.hpp"
#include "meta/namespace.hpp"
#include "meta/replay.hpp"
#include "meta/superblock.hpp"
#include "proto/fmap_text.hpp"
#include "proto/xattr.h"

namespace famfs::master {

namespace {

// The log entries the daemon has replayed (its logplay report), if it answers.
std::optional<uint64_t> daemon_replayed(const MountInfo& m) {
  int err = 0;
  auto raw = request_logplay(m.mpt, &err);
  if (!raw) return std::nullopt;
  auto rep = parse_logplay_report(*raw);
  return rep ? rep->entries : std::nullopt;
}

// One file of the log against what the mount serves for it.
void check_file(const MountInfo& m, const std::string& rel, const Inode& n, CheckReport& r,
                Events& ev) {
  ++r.files;
  std::string path = m.mpt == "/" ? "/" + rel : m.mpt + "/" + rel;
  int err = 0;
  auto text = get_xattr(path, FAMFS_XATTR_FMAP, &err);
  if (!text) {
    ++r.unmapped;
    ev.error(path + ": not mapped: the mount serves no map for it (" + errno_text(err) +
             "); the log creates it at entry " + std::to_string(n.log_index));
    return;
  }
  std::string why;
  auto x = proto::parse_fmap_text(*text, &why);
  if (!x) {
    ++r.unmapped;
    ev.error(path + ": not mapped: its served map is unreadable (" + why + ")");
    return;
  }
  if (x->size != n.size || !(x->fmap == n.fmap)) {
    ++r.mismatched;
    ev.error(path + ": the served " + (x->size != n.size ? "size" : "map") +
             " differs from the log's FILE entry " + std::to_string(n.log_index) +
             " (served " + std::to_string(x->size) + " bytes in " +
             std::to_string(x->fmap.extents.size()) + " extents, logged " +
             std::to_string(n.size) + " bytes in " + std::to_string(n.fmap.extents.size()) +
             "); remount to serve the log again");
    return;
  }
  ++r.good;
  ev.note(path + ": ok (" + std::to_string(n.size) + " bytes, " +
          std::to_string(n.fmap.extents.size()) + " extents, log entry " +
          std::to_string(n.log_index) + ")");
}

} // namespace

CheckReport check_mount(const MountInfo& m, Events& ev) {
  CheckReport r;
  check_daemon_alive(m.mpt); // a dead daemon is one message, not one per file
  std::optional<uint64_t> served_upto = daemon_replayed(m);
  dax::Device dev = dax::Device::open(m.device, false);
  dax::Mapping map = dax::Mapping::map(dev, false);
  omf::Superblock sb = read_superblock(map.cbytes());
  SbStatus ss = check_superblock(sb);
  if (!sb_usable(ss)) {
    r.superblock_bad = true;
    ev.error(m.device + ": the superblock is missing or corrupt (" +
             std::string(sb_status_text(ss)) + "); run famfs fsck " + m.device);
    return r;
  }
  Geometry g = geometry_of(sb, map.cbytes());
  LogHeaderStatus ls = check_log_header(read_log_header(map.cbytes()), g.log_len);
  if (ls != LogHeaderStatus::Ok) {
    r.log_bad = true;
    ev.error(m.device + ": the log header is invalid (" + std::string(log_header_status_text(ls)) +
             "); run famfs fsck " + m.device);
    return r;
  }
  Namespace ns(g, false);
  Replayer rp(map.cbytes(), dax::cpu_cache_ops());
  ReplayReport rep = rp.play(ns);
  if (rep.damage) {
    r.log_bad = true;
    ev.error(m.device + ": the log is damaged at entry " + std::to_string(rep.damage->index) +
             " (" + rep.damage->what + "); files after it are not checked");
  }
  uint64_t upto = served_upto.value_or(rp.played());
  for (Ino ino = 1; ino <= ns.max_ino(); ++ino) {
    const Inode* n = ns.get(ino);
    if (!n || n->is_dir || n->log_index == kNoLogIndex || n->log_index >= upto) continue;
    check_file(m, ns.path_of(ino), *n, r, ev);
  }
  return r;
}

} // namespace famfs::master
