// The master's write session (docs/design.md "Appending" and "One writer per host").
//
// A Writer is what every mutating operation (create_files, make_dirs, clone_file, copy_in)
// works through: lookups in the replayed log, log-slot reservations, space allocation, appends
// and the hand-off to the local daemon. The operations use only this interface, so the one
// implementation here (which maps the device and holds the host's writer lock itself) can be
// joined later by one that forwards to the master's daemon over its control socket, without
// changing the operations or the CLI fronts.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "master/events.hpp"
#include "master/paths.hpp"
#include "master/reports.hpp"
#include "meta/fmap.hpp"
#include "meta/geometry.hpp"
#include "meta/namespace.hpp"
#include "meta/omf.hpp"
#include "meta/bitmap.hpp"

namespace famfs::master {

struct WriterOptions {
  std::string uuid_file;  // --system-uuid-file (dax::system_uuid_path rules)
  std::string what;       // what the caller is about to do, for refusals ("create files")
  std::string run_dir;    // where writer locks live ("" = kRunDir)
};

class Writer {
 public:
  virtual ~Writer() = default;

  // Open the writer of the famfs mounted at `m` on this host: checks that this host is the
  // master (the refusal names the master), that the mount is writable, takes the file
  // system's writer lock (telling `ev` when it waits), maps the device read-write and opens
  // the log (refusing a damaged one). Throws famfs::Error with a message for the user.
  static std::unique_ptr<Writer> open(const MountInfo& m, const WriterOptions& o, Events& ev);

  virtual const MountInfo& mount() const = 0;
  virtual const Geometry& geometry() const = 0;
  // The device, mapped read-write: file data is written straight into it.
  virtual std::span<std::byte> device() const = 0;

  // What the log holds at `relpath` ("" = the root), or nullptr.
  virtual const Inode* lookup(const std::string& relpath) = 0;

  // Reserve n log slots before any side effect (throws Error(ENOMEM) when the log is full);
  // each append consumes one; unreserve gives back those that will not be used. Thread-safe.
  virtual void reserve(uint64_t n) = 0;
  virtual void unreserve(uint64_t n) = 0;
  virtual uint64_t free_slots() const = 0;

  // Space for a new file of `size` bytes, contiguous or interleaved (allocate.hpp has the
  // rules and messages; `what` names the file). release() gives it back before it is used.
  // Throws Error(EUCLEAN) naming the entry while an applied log entry differs from the
  // device (issue 8 defect 12: new space could overlap what hosts still map).
  virtual Fmap allocate(uint64_t size, const std::optional<InterleaveParams>& ip,
                        const std::string& what) = 0;
  virtual void release(const Fmap& f) = 0;
  virtual uint64_t free_bytes() = 0;

  // Append one entry (thread-safe; consumes a reservation) and apply it to what lookup()
  // sees, as re-read from the slot (seqnum and CRC checked: a slot that does not read back
  // valid throws Error(EUCLEAN) and ends the session's appends). Returns the slot used.
  // About once a second during long batches it also hands off to the daemon.
  virtual uint64_t append(const omf::LogEntry& e) = 0;
  virtual uint64_t appended() const = 0;

  // Make the local daemon replay now; its report, or nullopt after a warning through Events.
  // Entries of this writer that the daemon refused are reported as errors.
  virtual std::optional<LogplayReport> logplay() = 0;
};

} // namespace famfs::master
