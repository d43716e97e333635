// Deletes on this host (docs/delete.md): the kernel invalidations a replayed DELETE causes,
// unlink(2)/rmdir(2) through the master's mount, the delete figures of the status report, and
// the daemon's calls into its host slot (host_slot.hpp: start, the poller's one call, leave).
#include "daemon/daemon.hpp"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "daemon/clock.hpp"
#include "dax/cache.hpp"
#include "master/remove.hpp"
#include "meta/extension.hpp"
#include "meta/path.hpp"

namespace famfs::daemon {

namespace {

const char* state_name(uint32_t s) {
  switch (s) {
    case ext::kHostActive: return "active";
    case ext::kHostLeaving: return "left";
    default: return "free";
  }
}

} // namespace

// A replayed DELETE: the name goes from the kernel's dentry cache, the inode's attributes
// (nlink 0) and its parent's are refreshed. The inode itself stays: handles open on this host
// keep reading the memory they opened (their OpenFile has its own copy of the map).
void Daemon::note_removed(const ReplayReport& r) {
  if (r.removed.empty()) return;
  std::vector<InvalidationQueue::Entry> entries;
  std::vector<Ino> inodes;
  for (Ino ino : r.removed) {
    const Inode* n = ns_->get(ino);
    if (!n) continue;
    inodes.push_back(ino);
    inodes.push_back(n->parent);
    entries.emplace_back(n->parent, n->name);
  }
  std::sort(inodes.begin(), inodes.end());
  inodes.erase(std::unique(inodes.begin(), inodes.end()), inodes.end());
  inval_.push(std::move(inodes), std::move(entries));
  spdlog::info("replayed {} delete(s) [{}, {})", r.removed.size(), r.from, r.to);
}

// A DELETE entry sent by a famfs command over the control socket (famfs rm through the
// owning daemon): refused unless delete is enabled and it names a live object of the kind it
// says, created by the entry it names (the rules replay applies; caller holds table_mu_).
std::optional<std::string> Daemon::delete_entry_problem(const omf::LogEntry& e) {
  if (!ext::delete_enabled(ext::read_header_now(map_.cbytes(), dax::cpu_cache_ops())))
    return std::string("delete is not enabled on this file system: enable it with 'famfs "
                       "feature enable delete MOUNTPOINT'");
  ext::DeleteMeta dm;
  if (const ext::DeleteCheck c = ext::parse_delete(e, dm); c != ext::DeleteCheck::Ok)
    return ext::delete_check_text(c);
  const std::string rel(relpath_field(dm.dl_relpath));
  const std::optional<Ino> found = ns_->resolve(rel);
  const Inode* n = found ? ns_->get(*found) : nullptr;
  const bool want_dir = (dm.dl_flags & ext::kDeleteFlagDir) != 0;
  if (!n || n->removed || n->ino == kRootIno || n->log_index != dm.dl_target ||
      n->is_dir != want_dir)
    return "no live " + std::string(want_dir ? "directory" : "file") + " '" + rel +
           "' created by entry " + std::to_string(dm.dl_target);
  return std::nullopt;
}

void Daemon::remove_committed(fuse_req_t req, fuse_ino_t parent, const char* name,
                              bool is_rmdir) {
  const char* op = is_rmdir ? "rmdir" : "unlink";
  if (!master_)
    return refuse(req, op, parent, name, EPERM,
                  "only the master removes files (famfs rm on the master)");
  if (!ext::delete_enabled(ext::read_header_now(map_.cbytes(), dax::cpu_cache_ops())))
    return refuse(req, op, parent, name, EPERM,
                  "delete is not enabled on this file system: enable it with 'famfs feature "
                  "enable delete MOUNTPOINT' on the master");
  master::Writer* w = writer();
  if (!w)
    return refuse(req, op, parent, name, EPERM,
                  "this daemon does not own the file system's writer: use 'famfs rm'");
  std::string rel;
  {
    std::shared_lock tl(table_mu_);
    const Inode* p = ns_->get(parent);
    if (!p || p->removed) return (void)fuse_reply_err(req, ENOENT);
    if (!p->is_dir) return (void)fuse_reply_err(req, ENOTDIR);
    const std::string dir = ns_->path_of(parent);
    rel = dir.empty() ? std::string(name) : dir + "/" + name;
  }
  // The live names in a directory of the served table (no lock is held across the writer).
  auto list = [this](const std::string& r) {
    std::vector<std::string> names;
    std::shared_lock tl(table_mu_);
    const std::optional<Ino> d = ns_->resolve(r);
    const Inode* n = d ? ns_->get(*d) : nullptr;
    if (n && n->is_dir)
      for (Ino c : n->children)
        if (const Inode* x = ns_->get(c); x && !x->removed) names.push_back(x->name);
    return names;
  };
  const int err = master::remove_one(*w, rel, is_rmdir, list);
  if (err) {
    spdlog::info("{} /{}: {}", op, rel, std::strerror(err));
    return (void)fuse_reply_err(req, err);
  }
  spdlog::info("{} /{}: removed (one DELETE entry)", op, rel);
  fuse_reply_err(req, 0);
}

void Daemon::add_delete_figures(StatusFigures& f) {
  DeleteFigures& d = f.del;
  const ext::HeaderRead h = ext::read_header_now(map_.cbytes(), dax::cpu_cache_ops());
  d.extension = ext::header_status_text(h.status);
  d.enabled = ext::delete_enabled(h);
  d.lease_ms = h.status == ext::HeaderStatus::Valid ? h.header.ex_lease_ms : 0;
  d.serving = serving();
  if (slots_) {
    d.slot = slots_->slot();
    d.generation = slots_->generation();
  }
  std::vector<ext::HostView> hosts;
  if (d.enabled) hosts = ext::read_hosts(map_.cbytes(), h.header, dax::cpu_cache_ops());
  for (const ext::HostView& v : hosts) {
    DeleteFigures::Host x;
    x.slot = v.slot;
    x.system_uuid = v.unreadable ? std::string() : uuid_to_string(v.system_uuid);
    x.hostname = v.hostname;
    x.state = v.unreadable ? "unreadable" : state_name(v.state);
    x.generation = v.generation;
    x.replayed = v.replayed;
    if (v.oldest_open != ext::kNothingOpen) x.oldest_open = v.oldest_open;
    x.heartbeat = v.heartbeat;
    x.pid = v.pid;
    x.counts = v.counts;
    x.evicted = v.evicted;
    d.hosts.push_back(std::move(x));
  }
  std::lock_guard rl(replay_mu_);
  const SpaceMap& space = replayer_->space();
  d.deletes = space.stats().deletes;
  for (const DeletedSpace& ds : space.deleted()) {
    const uint64_t bytes = space.unclaimed_bytes(ds);
    if (bytes == 0) continue;
    const std::optional<std::size_t> who = ext::holder(ds.delete_index, ds.target_index, hosts);
    if (!who) {
      d.reusable_bytes += bytes;
      continue;
    }
    const ext::HostView& v = hosts[*who];
    DeleteFigures::Pending p;
    p.path = ds.path;
    p.bytes = bytes;
    p.delete_index = ds.delete_index;
    p.target_index = ds.target_index;
    p.held_by = v.unreadable ? std::string() : uuid_to_string(v.system_uuid);
    p.held_by_hostname = v.hostname;
    p.why = v.replayed <= ds.delete_index
                ? "has replayed " + std::to_string(v.replayed) + " entries, not yet the delete"
                : "has the file of log entry " + std::to_string(v.oldest_open) + " open";
    d.pending_reuse_bytes += bytes;
    d.pending.push_back(std::move(p));
  }
}

// ---------------------------------------------------- this host's slot (host_slot.hpp)

// Called by the poller after each refresh. An evicted host stops serving at once (EIO), catches
// up with the log (which invalidates the kernel's entries of everything deleted meanwhile),
// registers again and serves again; handles opened before stay failed (their memory may belong
// to a new file).
void Daemon::publish_host_slot() {
  if (!slots_) return;
  const int64_t now = mono_ms();
  HostSlotKeeper::Event e = slots_->poll(played_.load(), opens_.oldest(), now);
  if (e != HostSlotKeeper::Event::Evicted) return;
  serve_epoch_.fetch_add(1);
  spdlog::critical("THIS HOST WAS CONSIDERED GONE by the master (host slot {}, generation {}): "
                   "not serving (EIO) until it has replayed the log; files open before stay "
                   "failed (their space may have been reused)",
                   slots_->slot().value_or(0), slots_->generation());
  refresh(true); // queues the invalidations of everything deleted meanwhile
  slots_->reregister(played_.load(), opens_.oldest(), mono_ms());
  spdlog::warn("replayed the log again ({} entries): serving again as generation {}",
               played_.load(), slots_->generation());
}

// Before the first replay (prepare): the slot is written through a writable mapping, a second
// one when the mount is read-only (the host must still be counted by the reuse rule).
void Daemon::start_host_slot() {
  std::span<std::byte> dev = map_.bytes();
  const ext::HeaderRead h = ext::read_header_now(map_.cbytes(), dax::cpu_cache_ops());
  if (!ext::delete_enabled(h) && opt_.read_only) return; // enabled later: not seen by -o ro
  if (opt_.read_only) {
    slot_dev_.emplace(dax::Device::open(opt_.device, true));
    slot_map_ = dax::Mapping::map(*slot_dev_, true);
    dev = slot_map_.bytes();
  }
  char host[HOST_NAME_MAX + 1] = {};
  (void)::gethostname(host, sizeof host - 1);
  HostSlotKeeper::Config c;
  c.device = dev;
  c.cache = dax::cpu_cache_ops();
  c.system_uuid = system_uuid_.value_or(Uuid{});
  c.master = master_;
  c.hostname = host;
  c.pid = uint32_t(::getpid());
  slots_ = std::make_unique<HostSlotKeeper>(std::move(c));
  slots_->start();
}

void Daemon::stop_host_slot() {
  if (slots_) slots_->leave();
}

bool Daemon::serving() const { return !slots_ || slots_->may_serve(mono_ms()); }

} // namespace famfs::daemon
