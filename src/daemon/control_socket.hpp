// The master daemon's control socket (proto/control.hpp is the protocol; docs/design.md "The
// control socket"): famfs master commands on this host reach the daemon's writer through it.
// One thread accepts root peers and serves their requests one at a time; what a client
// reserved or allocated and did not append goes back when it disconnects.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "master/writer.hpp"
#include "meta/fmap.hpp"
#include "proto/control.hpp"
#include "proto/unique_fd.hpp"

namespace famfs::daemon {

class ControlServer {
 public:
  struct Context {
    master::Writer& writer;
    std::string fs_uuid, mountpoint;
    // Would replay apply `e` now? (Namespace::check on the served namespace.) nullopt: yes,
    // or it exists already as the same directory; else why not.
    std::function<std::optional<std::string>(const omf::LogEntry& e)> entry_problem;
    // Is every allocation unit of `f` claimed by a replayed entry? (A clone's map.)
    std::function<bool(const Fmap& f)> claimed;
    // The user.famfs.logplay report (replays now).
    std::function<std::string()> logplay;
  };

  // Bind <run_dir>/<fs_uuid>/control (the directory exists, 0700, under the writer lock the
  // caller holds); clients queue until start(). Throws famfs::Error naming the socket.
  ControlServer(const std::string& run_dir, Context ctx);
  // Serve from a thread of the calling process (after fuse_daemonize: threads do not survive
  // its fork). The thread takes no termination signal.
  void start();
  ~ControlServer(); // stops the thread, gives back what clients held, removes the socket
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& path() const { return path_; }

 private:
  struct Client;
  void serve();
  void accept_client();
  bool handle(Client& c);        // false: drop the client
  proto::control::Reply answer(Client& c, const proto::control::Request& q);
  proto::control::Reply append(Client& c, const omf::LogEntry& e);
  void drop(Client& c);

  Context ctx_;
  std::string path_;
  proto::UniqueFd listen_fd_, stop_fd_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::thread thread_;
};

} // namespace famfs::daemon
