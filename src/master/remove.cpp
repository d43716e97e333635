// famfs rm / unlink / rmdir on the master: plan, reserve, append DELETE entries.
#include "master/remove.hpp"

#include <cerrno>
#include <cstring>

#include "dax/cache.hpp"
#include "master/feature.hpp"
#include "master/text.hpp"
#include "meta/error.hpp"
#include "meta/extension.hpp"

namespace famfs::master {

namespace {

struct Doomed {
  std::string rel;
  uint64_t target = 0; // log index of the entry that made it
  bool is_dir = false;
};

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

bool under_meta(const std::string& rel) { return rel == ".meta" || rel.rfind(".meta/", 0) == 0; }

// Children first, then the directory (post order). Names the listing shows that the log does
// not hold (yet) are left out: the directory's own DELETE is then refused by replay.
void plan_tree(Writer& w, const std::string& rel, const Inode& n, const RemoveOptions& o,
               std::vector<Doomed>& out) {
  if (n.is_dir && o.list) {
    for (const std::string& name : o.list(rel)) {
      const std::string crel = join(rel, name);
      if (const Inode* c = w.lookup(crel)) plan_tree(w, crel, *c, o, out);
    }
  }
  out.push_back({rel, n.log_index, n.is_dir});
}

void append_all(Writer& w, const std::vector<Doomed>& plan) {
  w.reserve(plan.size());
  uint64_t done = 0;
  try {
    for (const Doomed& d : plan) {
      w.append(ext::make_delete_entry(d.target, d.rel, d.is_dir));
      ++done;
    }
  } catch (...) {
    w.unreserve(plan.size() - done);
    throw;
  }
}

// The refusal of an item before anything is written, or 0.
int check_item(const Inode* n, const std::string& rel, bool want_dir, bool recursive) {
  if (rel.empty() || under_meta(rel)) return EPERM;
  if (!n) return ENOENT;
  if (n->log_index == kNoLogIndex) return EPERM;
  if (n->is_dir && !want_dir && !recursive) return EISDIR;
  if (!n->is_dir && want_dir) return ENOTDIR;
  return 0;
}

std::string refusal_text(int err, const RemoveItem& it, const MountInfo& m) {
  std::string why = errno_text(err);
  if (err == EPERM)
    why += it.rel.empty() ? " (it is the root of the famfs mounted at " + m.mpt + ")"
                          : " (.meta holds the file system's own files)";
  if (err == EISDIR) why += " (use -r to remove a directory and everything in it)";
  return "cannot remove " + quote(it.arg) + ": " + why;
}

} // namespace

uint64_t remove_paths(Writer& w, const std::vector<RemoveItem>& items, const RemoveOptions& o,
                      Events& ev) {
  require_delete(w.device(), dax::cpu_cache_ops(), w.mount().mpt);
  uint64_t failed = 0;
  for (const RemoveItem& it : items) {
    const Inode* n = w.lookup(it.rel);
    if (const int err = check_item(n, it.rel, false, o.recursive)) {
      if (!(err == ENOENT && o.force)) {
        ev.error(refusal_text(err, it, w.mount()));
        ++failed;
      }
      continue;
    }
    std::vector<Doomed> plan;
    plan_tree(w, it.rel, *n, o, plan);
    try {
      append_all(w, plan);
    } catch (const Error& e) {
      if (e.err() != ENOMEM) throw; // the session cannot go on
      throw Error(ENOSPC, "log full: removing " + quote(it.arg) + " needs " +
                              count_of(plan.size(), "log entry", "log entries") + " but only " +
                              std::to_string(w.free_slots()) + " are free; nothing of it was "
                              "removed (the log is append-only: famfs mkfs makes a new one)");
    }
    if (w.lookup(it.rel)) {
      ev.error("cannot remove " + quote(it.arg) + ": " + errno_text(ENOTEMPTY) +
               " (something was added under it while it was removed)");
      ++failed;
      continue;
    }
    for (const Doomed& d : plan) ev.note("removed " + quote(w.mount().mpt + "/" + d.rel));
  }
  w.logplay();
  return failed;
}

int remove_one(Writer& w, const std::string& rel, bool want_dir,
               const std::function<std::vector<std::string>(const std::string&)>& list) {
  try {
    require_delete(w.device(), dax::cpu_cache_ops(), w.mount().mpt);
  } catch (const Error&) {
    return EPERM;
  }
  const Inode* n = w.lookup(rel);
  if (const int err = check_item(n, rel, want_dir, false)) return err;
  if (n->is_dir && list) {
    for (const std::string& name : list(rel))
      if (w.lookup(join(rel, name))) return ENOTEMPTY;
  }
  try {
    append_all(w, {{rel, n->log_index, n->is_dir}});
  } catch (const Error& e) {
    return e.err() == ENOMEM ? ENOSPC : EIO;
  }
  return w.lookup(rel) ? ENOTEMPTY : 0;
}

} // namespace famfs::master
