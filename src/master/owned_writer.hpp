// The Writer of the process that owns a file system's writes on its host (docs/design.md "One
// writer per host"): the master's daemon. It is built over what that process already has (the
// device mapping, the geometry, the replayed log it serves), so a command costs O(new entries):
// no second mapping, no second replay, and logplay() replays into the served namespace
// in-process. The process holds the file system's writer lock (writer_lock.hpp) for the
// writer's life.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "master/events.hpp"
#include "master/paths.hpp"
#include "master/writer.hpp"
#include "meta/bitmap.hpp"
#include "meta/geometry.hpp"
#include "meta/namespace.hpp"
#include "meta/replay.hpp"

namespace famfs::master {

// What the owning process gives its writer: its replayed log. Every method may be called from
// any thread; the host does its own locking.
class WriterHost {
 public:
  virtual ~WriterHost() = default;

  // The object at `relpath` ("" = root) in the served namespace, or nullptr. Inodes never
  // move (meta/namespace.hpp), so the pointer stays valid.
  virtual const Inode* lookup(const std::string& relpath) = 0;

  // With no other replay running: call `write` (it appends to the log), then replay what is
  // new into the served namespace (as any replay: kernel caches invalidated). Its report.
  virtual ReplayReport append_and_replay(const std::function<void()>& write) = 0;

  // Replay what is new now; the report of that replay.
  virtual ReplayReport replay_now() = 0;

  // The allocation bitmap of every entry replayed so far and how many entries that is.
  struct Space {
    Bitmap bitmap{0};
    uint64_t played = 0;
  };
  virtual Space space() = 0;
  virtual uint64_t played() = 0;

  // Re-read `count` applied entries (issue 8 defect 12), then the current damage: where replay
  // stopped, or an applied entry that changed since. nullopt when the log is sound.
  virtual std::optional<ReplayIssue> check_applied(uint64_t count) = 0;

  // The log's next_index as last read (the logplay report's "entries").
  virtual uint64_t entries() = 0;
};

struct OwnedWriterSetup {
  MountInfo mount;              // the owner's own mount (mpt, device; never read-only)
  Geometry geometry;
  std::span<std::byte> device;  // mapped read-write for the host's life
};

// The owner's Writer over `host` (which must outlive it). Thread-safe: reserve, allocate,
// release and append are serialised by the writer; lookup goes to the host. release() takes
// back only space this writer allocated and that no entry claims yet (else EINVAL).
std::unique_ptr<Writer> open_owned_writer(OwnedWriterSetup setup, WriterHost& host, Events& ev);

} // namespace famfs::master
