// The daemon's control surface (src/daemon/control.cpp): the status and logplay reports parse
// as JSON with the documented keys, hostile bytes never break them, and a logplay size probe
// keeps its replay for the read that follows.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "daemon/control.hpp"

using namespace famfs;
using namespace famfs::daemon;
using nlohmann::json;

TEST_CASE("status report: every documented key, nulls where nothing is known", "[control]") {
  StatusFigures f;
  f.role = "client";
  f.device = "/dev/dax0.0";
  f.capacity_bytes = 1ull << 40;
  f.entries_used = 7;
  f.entries_total = 15420;
  const json j = json::parse(status_json(f));
  for (const char* k :
       {"role", "device", "mountpoint", "fs_uuid", "system_uuid", "capacity_bytes", "free_bytes",
        "allocated_bytes", "entries_used", "entries_total", "files", "directories",
        "last_replay_unix_ms", "replay_lag_ms", "refresh_ms", "damaged", "damage_index",
        "damage_reason", "skipped_entries", "collisions", "read_only", "owner", "pid", "direct_io",
        "direct_io_allow_mmap", "kernel_proto_minor", "transport", "delete_enabled",
        "pending_reuse_bytes", "delete", "debug"})
    CHECK(j.contains(k));
  CHECK(j.size() == 31);
  CHECK(j["owner"] == false);
  CHECK(j["delete_enabled"] == false);
  for (const char* k : {"enabled", "extension", "lease_ms", "deletes", "pending_reuse_bytes",
                        "reusable_bytes", "slot", "generation", "serving", "hosts", "pending"})
    CHECK(j["delete"].contains(k));
  // The internal counters are under "debug" only, never at the top level.
  REQUIRE(j["debug"].is_object());
  for (const char* k : {"invalidations_unsent", "lookup_refs", "inodes_known_to_kernel",
                        "negative_entries", "uring_requests"}) {
    CHECK(j["debug"].contains(k));
    CHECK_FALSE(j.contains(k));
  }
  CHECK(j["debug"].size() == 5);
  CHECK(j["capacity_bytes"] == 1ull << 40);
  CHECK(j["replay_lag_ms"].is_null());
  CHECK(j["damaged"] == false);
  CHECK(j["damage_index"].is_null());
  CHECK(j["damage_reason"].is_null());
  f.replay_lag_ms = 3;
  f.damage = ReplayIssue{4, "CRC mismatch"};
  f.invalidations_unsent = 2;
  f.lookup_refs = 9;
  f.inodes_known_to_kernel = 5;
  const json d = json::parse(status_json(f));
  CHECK(d["replay_lag_ms"] == 3);
  CHECK(d["damaged"] == true);
  CHECK(d["damage_index"] == 4);
  CHECK(d["damage_reason"] == "CRC mismatch");
  CHECK(d["debug"]["invalidations_unsent"] == 2);
  CHECK(d["debug"]["lookup_refs"] == 9);
  CHECK(d["debug"]["inodes_known_to_kernel"] == 5);
}

TEST_CASE("reports survive hostile bytes: invalid UTF-8 is replaced, quotes escaped",
          "[control]") {
  StatusFigures f;
  f.device = std::string("/dev/\xff\xfe\"x\\\n", 11);
  const json j = json::parse(status_json(f));
  CHECK(j["device"].get<std::string>().find("\"x\\\n") != std::string::npos);
  LogplayReports lp;
  auto lk = lp.lock();
  ReplayReport r;
  r.skipped.push_back({3, std::string("file '\xc3(': bad", 14)});
  lp.add(r, 0);
  const json l = json::parse(lp.text(4, std::nullopt));
  REQUIRE(l["skipped"].size() == 1);
  CHECK(l["skipped"][0]["index"] == 3);
}

TEST_CASE("logplay: a size probe keeps its replay for the read that follows", "[control]") {
  LogplayReports lp;
  auto lk = lp.lock();
  ReplayReport first;
  first.new_files = 2;
  first.to = 2;
  lp.add(first, 1000);
  std::string probe = lp.text(2, std::nullopt);
  lp.answered(0, probe.size(), 1000);        // getxattr(..., size 0): a probe
  ReplayReport second;                       // the read replays again: nothing new
  second.from = second.to = 2;
  lp.add(second, 1001);
  const std::string read = lp.text(2, std::nullopt);
  CHECK(json::parse(read)["new_files"] == 2); // the probe's replay is reported
  lp.answered(4096, read.size(), 1001);       // answered in full: the next count starts afresh
  lp.add(second, 1002);
  CHECK(json::parse(lp.text(2, std::nullopt))["new_files"] == 0);
  // A probe never followed by its read is forgotten after kProbeKeepMs.
  lp.answered(0, 10, 2000);
  lp.add(second, 2000 + LogplayReports::kProbeKeepMs + 1);
  CHECK(json::parse(lp.text(2, std::nullopt))["new_files"] == 0);
  const json dmg = json::parse(lp.text(2, ReplayIssue{5, "entry 5 changed after it was applied"}));
  CHECK(dmg["damaged"] == true);
  CHECK(dmg["damage_index"] == 5);
  CHECK(dmg["damage_reason"] == "entry 5 changed after it was applied");
  CHECK_FALSE(json::parse(lp.text(2, std::nullopt)).contains("damage_reason"));
}
