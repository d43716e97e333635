// The master-side commands as plain functions over option structs (strings as typed by the
// user: parsing and its error messages live with the command, not in CLI11). cmd_master.cpp
// registers them; each returns the raw rc (main exits with min(|rc|, 127)).
#pragma once

#include <string>
#include <vector>

namespace famfs::cli::master {

struct InterleaveArgs {
  std::string nstrips;  // -N
  std::string nbuckets; // -B
  std::string chunk;    // -C (default 2M)
  bool given() const { return !nstrips.empty() || !nbuckets.empty() || !chunk.empty(); }
};

struct CreatOpts {
  std::string file;
  std::string size;                // -s
  bool randomize = false;          // -r
  std::string seed;                // -S
  std::string mode, uid, gid;      // -m -u -g
  std::vector<std::string> multi;  // -M f,size[,seed]
  std::string threads;             // -t
  InterleaveArgs il;
  int verbose = 0;
  std::string uuid_file;
};
int run_creat(const CreatOpts& o);

struct MkdirOpts {
  std::vector<std::string> dirs;
  bool parents = false;
  std::string mode, uid, gid;
  int verbose = 0;
  std::string uuid_file;
};
int run_mkdir(const MkdirOpts& o);

struct CpOpts {
  std::vector<std::string> args; // SRC... DEST
  bool recursive = false;
  bool compare = false;           // -c: read each copy back and compare it with its source
  std::string threads;
  std::string mode, uid, gid;
  InterleaveArgs il;
  int verbose = 0;
  std::string uuid_file;
};
int run_cp(const CpOpts& o);

struct CloneOpts {
  std::string src, dst;
  int verbose = 0;
  std::string uuid_file;
};
int run_clone(const CloneOpts& o);

struct VerifyOpts {
  std::string file;               // -f
  std::string seed;               // -S
  std::vector<std::string> multi; // -m f,seed
  std::string threads;            // -t
  bool quiet = false;             // -q
};
int run_verify(const VerifyOpts& o);

struct GetmapOpts {
  std::vector<std::string> files;
  int quiet = 0;       // -q
  bool cont = false;   // -c
  bool json = false;   // --json: an array, one object per file
};
int run_getmap(const GetmapOpts& o);

struct CheckOpts {
  std::string path;  // a famfs mount point (or any path inside it)
  int verbose = 0;   // -v: name every good file too
  bool quiet = false; // -q: no summary line (the exit code says it)
};
int run_check(const CheckOpts& o);

struct ChkreadOpts {
  std::string file;
  bool superblock = false; // -s
  bool log = false;        // -l
};
int run_chkread(const ChkreadOpts& o);

struct FlushOpts {
  std::vector<std::string> files;
  int verbose = 0;
};
int run_flush(const FlushOpts& o);

struct StatusOpts {
  std::string path;         // empty: every famfs mount and famfs-formatted dax device
  bool json = false;
  bool prometheus = false;  // Prometheus text exposition, per mount
  std::string uuid_file;
};
int run_status(const StatusOpts& o);

// famfs rm and famfs feature (master_remove.cpp; docs/delete.md)
struct RmOpts {
  std::vector<std::string> paths;
  bool recursive = false; // -r
  bool force = false;     // -f
  bool verbose = false;   // -v
  std::string uuid_file;
};
int run_rm(const RmOpts& o);

struct FeatureOpts {
  std::vector<std::string> args; // enable delete MPT
  std::string lease_ms;          // --lease-ms (default ext::kDefaultLeaseMs)
  std::string uuid_file;
};
int run_feature(const FeatureOpts& o);

struct HostsOpts {
  std::string path;  // a famfs mount point (or any path inside it)
  bool json = false;
  std::string evict; // --evict UUID (master only)
  std::string uuid_file;
};
int run_hosts(const HostsOpts& o);

} // namespace famfs::cli::master
