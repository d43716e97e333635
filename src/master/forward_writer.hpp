// The Writer of a famfs command when the master's daemon owns the file system's writes on this
// host (docs/design.md "One writer per host"): lookups, reservations, allocations and appends go
// to the daemon over its control socket (proto/control.hpp); the data path stays here (the
// command maps the device itself and writes file bytes straight into it between allocate and
// append).
#pragma once

#include <memory>
#include <string>

#include "master/events.hpp"
#include "master/paths.hpp"
#include "master/writer.hpp"
#include "meta/omf.hpp"

namespace famfs::master {

// The forwarding Writer for the mount `m` (checked by the caller: master, writable) whose
// superblock is `sb`, or nullptr when no daemon answers on the file system's control socket
// (then the caller writes itself, under the writer lock). Throws famfs::Error when a daemon
// answers but refuses or speaks another protocol version.
std::unique_ptr<Writer> connect_owner(const MountInfo& m, const omf::Superblock& sb,
                                      const std::string& run_dir, Events& ev);

} // namespace famfs::master
