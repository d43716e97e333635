// The master daemon as the owner of its file system's writes on this host (docs/design.md
// "One writer per host"): the WriterHost its master::Writer works over (the daemon's own
// replayed log), and the Events that writer reports through (the daemon's log).
#pragma once

#include <string>

#include "master/owned_writer.hpp"

namespace famfs::daemon {

class Daemon;

class OwnerHost final : public master::WriterHost {
 public:
  explicit OwnerHost(Daemon& d) : d_(d) {}
  const Inode* lookup(const std::string& relpath) override;
  ReplayReport append_and_replay(const std::function<void()>& write) override;
  ReplayReport replay_now() override;
  Space space() override;
  uint64_t played() override;
  std::optional<ReplayIssue> check_applied(uint64_t count) override;
  uint64_t entries() override;

 private:
  Daemon& d_;
};

// The owned writer's messages go to the daemon's log.
class OwnerEvents final : public master::Events {
 public:
  void error(const std::string& m) override;
  void warning(const std::string& m) override;
  void note(const std::string& m) override;
  void waiting(const std::string& m) override;
};

} // namespace famfs::daemon
