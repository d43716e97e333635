// The master daemon's control socket (docs/design.md "One writer per host", "The control
// socket"): how famfs master commands on the master host reach the one owner of allocation and
// append. This header is the protocol: the socket's place, the framing, every message and
// every bound. The codec (control.cpp) keeps nlohmann-json to itself.
//
// Place: <kRunDir>/<fs-uuid>/control, an AF_UNIX SOCK_SEQPACKET socket, the directory 0700
// root, the socket 0600; the daemon serves only peers whose SO_PEERCRED uid is 0, the client
// talks only to a server whose uid is 0.
// Framing: one request or reply per packet (SOCK_SEQPACKET keeps the boundaries), at most
// kMaxMessage bytes; a longer packet ends the connection. Strictly request -> reply.
// Messages: one JSON object each. Requests {"op": NAME, ...}; replies {"ok": true, ...} or
// {"ok": false, "errno": E, "message": TEXT} (the message is for the user).
//
//   op          request fields                       reply fields
//   hello       version                              version, fs_uuid, mountpoint, pid
//   lookup      path (relpath, "" = root)            found, [is_dir, mode, uid, gid, size,
//                                                     log_index, fmap (fmap text)]
//   reserve     n (log slots)                        free_slots
//   unreserve   n (at most what this client holds)   free_slots
//   free_slots  -                                    free_slots
//   allocate    size, what (the file), [interleave:  fmap (fmap text, size = the file's)
//               {nbuckets, nstrips, chunk_size}]
//   release     fmap (one this client allocated)     -
//   free_bytes  -                                    free_bytes
//   append      entry (the log entry's 544 bytes,    index, refused (why replay skipped it,
//               lowercase hex)                        or null)
//   logplay     -                                    report (the user.famfs.logplay JSON text)
//
// A client that disconnects gives back what it reserved and every allocation no appended entry
// claims. The daemon serialises requests (one at a time, in arrival order per client).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "meta/bitmap.hpp"
#include "meta/fmap.hpp"
#include "meta/omf.hpp"

namespace famfs::proto::control {

inline constexpr const char* kRunDir = "/run/famfs"; // host-local writer state, per fs UUID
inline constexpr const char* kSocketName = "control";
inline constexpr uint32_t kVersion = 1;

// Bounds on what a client may send (a hostile or broken root client cannot exhaust the daemon).
inline constexpr std::size_t kMaxMessage = 16 * 1024;
inline constexpr std::size_t kMaxClients = 64;
inline constexpr std::size_t kMaxWhat = 4096;             // allocate's "what" (a path, for messages)
inline constexpr std::size_t kMaxOutstanding = 1u << 20;  // allocations not yet appended, per client
inline constexpr uint64_t kMaxSlotsPerRequest = uint64_t{1} << 32;

std::string socket_path(const std::string& run_dir, const std::string& fs_uuid);

enum class Op { Hello, Lookup, Reserve, Unreserve, FreeSlots, Allocate, Release, FreeBytes,
                Append, Logplay };
const char* op_name(Op op);

struct Request {
  Op op = Op::Hello;
  uint64_t n = 0;                          // reserve/unreserve: slots; allocate: size
  std::string path;                        // lookup: relpath; allocate: what
  std::optional<InterleaveParams> interleave; // allocate
  Fmap fmap;                               // release
  omf::LogEntry entry{};                   // append
  uint32_t version = kVersion;             // hello
};

struct Found {
  bool is_dir = false;
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t size = 0, log_index = 0;
  Fmap fmap;
};

struct Reply {
  int err = 0;                             // 0: ok
  std::string message;                     // err != 0: for the user
  uint64_t value = 0;                      // free_slots, free_bytes, append's index
  std::optional<Found> found;              // lookup
  Fmap fmap;                               // allocate
  uint64_t fmap_size = 0;                  // allocate: the file size it was asked for
  std::optional<std::string> refused;      // append
  std::string report;                      // logplay
  uint32_t version = kVersion;             // hello
  std::string fs_uuid, mountpoint;         // hello
  long pid = 0;                            // hello
};

std::string encode(const Request& r);
// nullopt and *why when `text` is not a request this version knows, or breaks a bound.
std::optional<Request> decode_request(std::string_view text, std::string* why);

std::string encode(const Reply& r, Op op);
std::optional<Reply> decode_reply(std::string_view text, Op op, std::string* why);

// One packet. send: false and *err on failure (EAGAIN when `nonblocking` and the peer's
// buffer is full). recv: nullopt and *err (0 = the peer closed; EMSGSIZE = over kMaxMessage).
bool send_message(int fd, const std::string& body, bool nonblocking, int* err);
std::optional<std::string> recv_message(int fd, int* err);

} // namespace famfs::proto::control
