// master/reports: the daemon's JSON reports read through nlohmann-json, and the accumulation
// of refused entries across a writer's logplay reports.
#include <catch2/catch.hpp>

#include "master/reports.hpp"

using namespace famfs::master;

TEST_CASE("JsonReport: typed accessors with defaults", "[reports]") {
  auto j = JsonReport::parse(R"({"files":5,"neg":-3,"lag":1.25,"role":"master","damaged":true,
                                 "idx":null,"big":18446744073709551615,"arr":[{"a":1},2]})");
  REQUIRE(j);
  CHECK(j->u64("files") == 5);
  CHECK(j->u64("neg") == 0);        // negative numbers are no count
  CHECK(j->i64("neg") == -3);
  CHECK(j->u64("lag") == 1);
  CHECK(j->u64("big") == 18446744073709551615ull);
  CHECK(j->u64("missing", 7) == 7);
  CHECK(j->u64("role", 9) == 9);    // of another type
  CHECK(j->str("role") == "master");
  CHECK(j->str("files", "x") == "x");
  CHECK(j->flag("damaged"));
  CHECK_FALSE(j->flag("files"));
  CHECK(j->has("idx"));
  CHECK_FALSE(j->number("idx"));
  CHECK(*j->number("lag") == 1.25);
  CHECK(*j->number_text("files") == "5");
  CHECK(j->objects("arr").size() == 1);
  CHECK(j->objects("arr")[0].u64("a") == 1);
  CHECK(j->objects("files").empty());
}

TEST_CASE("JsonReport: not JSON, or not an object", "[reports]") {
  for (const char* t : {"", "{", "[1,2]", "\"x\"", "{\"a\":1} trailing", "nul"}) {
    CAPTURE(t);
    std::string why;
    CHECK_FALSE(JsonReport::parse(t, &why));
    CHECK_FALSE(why.empty());
  }
}

TEST_CASE("logplay report: the daemon's fields", "[reports]") {
  auto r = parse_logplay_report(
      R"({"entries":12,"new_files":3,"new_dirs":1,"existed":2,"skipped":[{"index":7,"what":"bad crc"},)"
      R"({"index":9}],"damaged":true,"damage_index":11,"damage_reason":"torn"})");
  REQUIRE(r);
  CHECK(r->entries == 12u);
  CHECK(r->new_files == 3);
  CHECK(r->new_dirs == 1);
  CHECK(r->existed == 2);
  REQUIRE(r->skipped.size() == 2);
  CHECK(r->skipped[0].index == 7u);
  CHECK(r->skipped[0].what == "bad crc");
  CHECK_FALSE(r->skipped[1].what);
  CHECK(r->damaged);
  CHECK(r->damage_index == 11);
  CHECK(r->damage_reason == "torn");

  auto clean = parse_logplay_report(R"({"entries":3,"skipped":[],"damaged":false,"damage_index":null})");
  REQUIRE(clean);
  CHECK_FALSE(clean->damaged);
  CHECK_FALSE(clean->damage_reason);
  CHECK(clean->skipped.empty());
  CHECK(parse_logplay_report("{}")->entries == std::nullopt);
}

TEST_CASE("RefusalTracker: each of the writer's own refused entries once", "[reports]") {
  RefusalTracker t;
  auto report = [](uint64_t entries, std::vector<uint64_t> skipped) {
    LogplayReport r;
    r.entries = entries;
    for (auto i : skipped) r.skipped.push_back({i, "why"});
    return r;
  };
  // Nothing appended yet: nothing is ours.
  CHECK(t.new_refusals(report(5, {1, 2})).empty());
  t.appended(5);
  t.appended(6); // only the first slot matters
  auto first = t.new_refusals(report(8, {2, 5, 7}));
  REQUIRE(first.size() == 2);
  CHECK(*first[0].index == 5);
  CHECK(*first[1].index == 7);
  // The daemon repeats its skipped list: already reported ones are not said again.
  auto second = t.new_refusals(report(10, {2, 5, 7, 9}));
  REQUIRE(second.size() == 1);
  CHECK(*second[0].index == 9);
  // A report without "entries" keeps the mark.
  LogplayReport no_entries;
  no_entries.skipped.push_back({9, "why"});
  CHECK(t.new_refusals(no_entries).empty());
}
