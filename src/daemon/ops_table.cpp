// The trampolines from libfuse's C callbacks to Daemon's operations, and the operation table
// (as libfuse's example/passthrough_hp.cc). Unsupported operations change nothing, log one
// line and answer the errno documented in docs/daemon.md. Staged inodes (is_staged_ino) and
// their handles (OpenFile::staged) go to the staged_* operations of ops_create.cpp.
#include "daemon/daemon.hpp"

#include <string>

namespace famfs::daemon {

namespace {

Daemon* self(fuse_req_t req) { return static_cast<Daemon*>(fuse_req_userdata(req)); }
bool staged_handle(const struct fuse_file_info* fi) {
  return fi && fi->fh && reinterpret_cast<const OpenFile*>(fi->fh)->staged;
}

void ll_init(void* ud, struct fuse_conn_info* conn) { static_cast<Daemon*>(ud)->op_init(conn); }

void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (!self(req)->staged_lookup(req, parent, name)) self(req)->op_lookup(req, parent, name);
}

void forget_one(Daemon* d, fuse_ino_t ino, uint64_t nlookup) {
  if (is_staged_ino(ino))
    d->staged_forget(ino, nlookup);
  else
    d->op_forget(ino, nlookup);
}

void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  forget_one(self(req), ino, nlookup);
  fuse_reply_none(req);
}

void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) forget_one(self(req), forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  if (is_staged_ino(ino)) return self(req)->staged_getattr(req, ino);
  self(req)->op_getattr(req, ino);
}

void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                struct fuse_file_info*) {
  if (is_staged_ino(ino)) return self(req)->staged_setattr(req, ino, attr, to_set);
  self(req)->op_setattr(req, ino, attr, to_set);
}

void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
  self(req)->op_readdir(req, ino, size, off, false);
}

void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info*) {
  self(req)->op_readdir(req, ino, size, off, true);
}

void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  if (is_staged_ino(ino)) return self(req)->staged_open(req, ino, fi);
  self(req)->op_open(req, ino, fi);
}

void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  if (staged_handle(fi)) return self(req)->staged_release(req, fi);
  self(req)->op_release(req, ino, fi);
}

void ll_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, struct fuse_file_info* fi) {
  if (staged_handle(fi)) return self(req)->staged_read(req, size, off, fi);
  self(req)->op_read(req, size, off, fi);
}

void ll_write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
              struct fuse_file_info* fi) {
  if (staged_handle(fi)) return self(req)->staged_write(req, buf, size, off, fi);
  self(req)->op_write(req, buf, size, off, fi);
}

void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  self(req)->op_opendir(req, ino, fi);
}

void ll_flush(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
  self(req)->op_flush(req, fi);
}

void ll_fsync(fuse_req_t req, fuse_ino_t, int, struct fuse_file_info* fi) {
  if (staged_handle(fi)) return self(req)->staged_fsync(req, fi);
  self(req)->op_fsync(req, fi);
}

void ll_statfs(fuse_req_t req, fuse_ino_t) { self(req)->op_statfs(req); }

void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  if (is_staged_ino(ino)) return self(req)->staged_getxattr(req, ino, name, size);
  self(req)->op_getxattr(req, ino, name, size);
}

void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  if (is_staged_ino(ino)) return self(req)->staged_listxattr(req, ino, size);
  self(req)->op_listxattr(req, ino, size);
}

// ---- create through the master's mount (ops_create.cpp; refused as before elsewhere)

void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  self(req)->op_mknod(req, parent, name, mode);
}

void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  self(req)->op_mkdir(req, parent, name, mode);
}

void ll_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
               struct fuse_file_info* fi) {
  self(req)->op_create(req, parent, name, mode, fi);
}

void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  self(req)->op_unlink(req, parent, name);
}

void ll_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned flags) {
  self(req)->op_rename(req, parent, name, newparent, newname, flags);
}

void ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                  struct fuse_file_info* fi) {
  self(req)->op_fallocate(req, ino, mode, off, len, fi);
}

// ---- unsupported

void ll_symlink(fuse_req_t req, const char*, fuse_ino_t parent, const char* name) {
  self(req)->refuse(req, "symlink", parent, name, EPERM, "famfs has no symbolic links");
}

void ll_link(fuse_req_t req, fuse_ino_t, fuse_ino_t parent, const char* name) {
  self(req)->refuse(req, "link", parent, name, EPERM, "famfs has no hard links");
}

void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  self(req)->remove_committed(req, parent, name, true);
}

void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char*, size_t, int) {
  self(req)->refuse(req, "setxattr", ino, nullptr, ENOTSUP,
                    (std::string("extended attributes are read-only: ") + name).c_str());
}

void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  self(req)->refuse(req, "removexattr", ino, nullptr, ENOTSUP,
                    (std::string("extended attributes are read-only: ") + name).c_str());
}

} // namespace

struct fuse_lowlevel_ops operation_table() {
  struct fuse_lowlevel_ops ops {};
  ops.init = ll_init;
  ops.lookup = ll_lookup;
  ops.forget = ll_forget;
  ops.forget_multi = ll_forget_multi;
  ops.getattr = ll_getattr;
  ops.setattr = ll_setattr;
  ops.readdir = ll_readdir;
  ops.readdirplus = ll_readdirplus;
  ops.open = ll_open;
  ops.release = ll_release;
  ops.read = ll_read;
  ops.write = ll_write;
  ops.opendir = ll_opendir;
  ops.flush = ll_flush;
  ops.fsync = ll_fsync;
  ops.statfs = ll_statfs;
  ops.getxattr = ll_getxattr;
  ops.listxattr = ll_listxattr;
  ops.mknod = ll_mknod;
  ops.mkdir = ll_mkdir;
  ops.create = ll_create;
  ops.symlink = ll_symlink;
  ops.link = ll_link;
  ops.unlink = ll_unlink;
  ops.rmdir = ll_rmdir;
  ops.rename = ll_rename;
  ops.fallocate = ll_fallocate;
  ops.setxattr = ll_setxattr;
  ops.removexattr = ll_removexattr;
  return ops;
}

} // namespace famfs::daemon
