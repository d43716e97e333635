// The CLI side of the master-side commands (creat, cp, mkdir, clone) and the read-side helpers
// (verify, getmap, flush, chkread, status): argument parsing and its messages, the terminal
// progress bar, and CliEvents (how the master library's messages reach the terminal). The work
// itself is in src/master (docs/design.md "The master library").
//
// Nothing here includes CLI11, so these files compile quickly; cmd_master.cpp does the parsing.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "master/events.hpp"
#include "master/paths.hpp"
#include "master/text.hpp"
#include "meta/bitmap.hpp"
#include "meta/geometry.hpp"

namespace famfs::cli::master {

using famfs::master::errno_text;
using famfs::master::get_xattr;
using famfs::master::MountInfo;
using famfs::master::quote;

// ---------------------------------------------------------------------------------------------
// Progress on stderr: shown only when stderr is a terminal and the work takes > ~1 s
// ($FAMFS_PROGRESS_DELAY_MS overrides the delay).
class Progress final : public famfs::master::ProgressSink {
 public:
  Progress(uint64_t total_bytes, uint64_t total_files, std::string label);
  ~Progress() override; // finish()
  void add_bytes(uint64_t n) override { bytes_.fetch_add(n, std::memory_order_relaxed); }
  void add_file() override { files_.fetch_add(1, std::memory_order_relaxed); }
  void finish();

 private:
  void run();
  void draw(bool final);
  uint64_t total_bytes_, total_files_;
  std::string label_;
  std::atomic<uint64_t> bytes_{0}, files_{0};
  std::atomic<bool> stop_{false};
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_;
  std::thread thr_;
};

// The master library's messages as "<prog>: ..." lines: errors, warnings and waits on stderr,
// notes on stdout with -v; a progress bar for data phases. Thread-safe.
class CliEvents final : public famfs::master::Events {
 public:
  explicit CliEvents(std::string prog, bool verbose = false)
      : prog_(std::move(prog)), verbose_(verbose) {}
  void error(const std::string& message) override;
  void warning(const std::string& message) override;
  void note(const std::string& message) override;
  void waiting(const std::string& message) override;
  std::unique_ptr<famfs::master::ProgressSink> progress(uint64_t total_bytes,
                                                        uint64_t total_files) override;
  const std::string& prog() const { return prog_; }

 private:
  std::string prog_;
  bool verbose_;
  std::mutex mu_;
};

// ---------------------------------------------------------------------------------------------
// Argument parsing shared by the commands (throw famfs::Error(EINVAL) naming the option)
uint64_t parse_u64_arg(const std::string& s, const char* option);   // decimal or 0x hex
uint32_t parse_id_arg(const std::string& s, const char* option);    // uid/gid
uint64_t parse_size_arg(const std::string& s, const char* option);  // N[kmg]
uint32_t parse_mode_arg(const std::string& s, const char* option);  // octal
unsigned parse_threads_arg(const std::string& s, unsigned dflt);    // 1..256
uint32_t current_umask();

struct InterleaveArgs;
// nullopt when no -N/-B/-C was given; else validated parameters (chunk defaults to 2 MiB).
std::optional<InterleaveParams> parse_interleave(const InterleaveArgs& a, const Geometry* g);

// Exit status rule for commands that count errors: capped like upstream.
inline int count_rc(uint64_t n) { return n > 127 ? 127 : int(n); }

// Split an -M/--multi argument "a,b,c" on commas (empty fields kept, so "f,,1" is 3 fields).
std::vector<std::string> split_commas(const std::string& s);

} // namespace famfs::cli::master
