// Reading the daemon's JSON reports (user.famfs.status, user.famfs.logplay; docs/design.md
// "Extended attributes") through nlohmann-json, and the logplay client of the append path.
// nlohmann stays inside reports.cpp: callers see typed accessors with defaults.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace famfs::master {

// One JSON object. Accessors return the default when the key is absent or of another type.
class JsonReport {
 public:
  // nullopt (and *why) when `text` is not JSON or not an object.
  static std::optional<JsonReport> parse(std::string_view text, std::string* why = nullptr);

  bool has(std::string_view key) const;
  uint64_t u64(std::string_view key, uint64_t dflt = 0) const; // negative numbers give 0
  int64_t i64(std::string_view key, int64_t dflt = 0) const;
  bool flag(std::string_view key, bool dflt = false) const;
  std::string str(std::string_view key, std::string dflt = {}) const;
  std::optional<std::string> string_of(std::string_view key) const; // only if a string
  std::optional<double> number(std::string_view key) const;
  // The number as the daemon would print it (integers exactly), if the key holds a number.
  std::optional<std::string> number_text(std::string_view key) const;
  // The members of the array `key` that are objects (empty if none).
  std::vector<JsonReport> objects(std::string_view key) const;

  struct Impl;

 private:
  explicit JsonReport(std::shared_ptr<const Impl> j) : j_(std::move(j)) {}
  std::shared_ptr<const Impl> j_;
};

// The report of user.famfs.logplay.
struct LogplayReport {
  struct Skipped {
    std::optional<uint64_t> index;
    std::optional<std::string> what;
  };
  std::optional<uint64_t> entries; // the log's next_index after the replay
  uint64_t new_files = 0, new_dirs = 0, existed = 0;
  std::vector<Skipped> skipped;
  bool damaged = false;
  uint64_t damage_index = 0;
  std::optional<std::string> damage_reason;
};
std::optional<LogplayReport> parse_logplay_report(std::string_view text, std::string* why = nullptr);

// Ask the daemon of the mount at `mpt` to replay now: read user.famfs.logplay on its root.
// The raw report, or nullopt with *err = errno.
std::optional<std::string> request_logplay(const std::string& mpt, int* err = nullptr);

// Which entries of a writer's own batch the daemon refused, reported once each. A writer
// feeds every report it gets; new_refusals() gives the skipped entries at or after the first
// slot it appended and not reported by an earlier call.
class RefusalTracker {
 public:
  void appended(uint64_t slot) {
    if (first_ == kNone) first_ = slot;
  }
  std::vector<LogplayReport::Skipped> new_refusals(const LogplayReport& r);

 private:
  static constexpr uint64_t kNone = ~0ull;
  uint64_t first_ = kNone;    // first slot this writer appended
  uint64_t reported_upto_ = 0; // refusals below this were reported already
};

} // namespace famfs::master
