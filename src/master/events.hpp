// How the master library talks to whoever drives it (the CLI prints; the daemon will log):
// an injected interface, as meta/cacheops.hpp injects cache maintenance. Every method has a
// silent default, so a caller overrides only what it shows.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace famfs::master {

// Progress of a long data phase (bytes copied or filled, files done). Thread-safe.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void add_bytes(uint64_t n) = 0;
  virtual void add_file() = 0;
};

class Events {
 public:
  virtual ~Events() = default;
  // One item of a batch failed; the batch goes on (messages name the item and what to do).
  virtual void error(const std::string& message) { (void)message; }
  // Something the user should know that does not fail the operation.
  virtual void warning(const std::string& message) { (void)message; }
  // What was done, item by item (the CLI shows these with -v).
  virtual void note(const std::string& message) { (void)message; }
  // The operation is blocked on something (said once, after about a second of waiting).
  virtual void waiting(const std::string& message) { (void)message; }
  // A sink for a data phase of `total_bytes` over `total_files` files, or null for none.
  // The phase ends when the sink is destroyed.
  virtual std::unique_ptr<ProgressSink> progress(uint64_t total_bytes, uint64_t total_files) {
    (void)total_bytes;
    (void)total_files;
    return nullptr;
  }
};

} // namespace famfs::master
