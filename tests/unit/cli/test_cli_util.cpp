// The CLI's shared helpers (src/cli/util.cpp).
#include <catch2/catch.hpp>
#include <string>

#include "cli/util.hpp"

using namespace famfs::cli;

TEST_CASE("parse_size: plain, hex and binary suffixes", "[util]") {
  CHECK(parse_size("0") == 0u);
  CHECK(parse_size("4096") == 4096u);
  CHECK(parse_size("0x1000") == 4096u);
  CHECK(parse_size("8m") == 8ull << 20);
  CHECK(parse_size("8M") == 8ull << 20);
  CHECK(parse_size("2k") == 2048u);
  CHECK(parse_size("2K") == 2048u);
  CHECK(parse_size("1g") == 1ull << 30);
  CHECK(parse_size("4G") == 4ull << 30);
  CHECK(parse_size("0x10m") == 16ull << 20);
  std::string why;
  for (const char* bad : {"", "m", "-1", "12x", "1.5m", "0x", "0xg", " 1", "1 ", "99999999999999999999",
                          "17179869184g"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_size(bad, &why));
    CHECK_FALSE(why.empty());
  }
  CHECK(parse_size("18446744073709551615") == 18446744073709551615ull);
}

TEST_CASE("parse_mode: octal permission bits only", "[util]") {
  CHECK(parse_mode("644") == 0644u);
  CHECK(parse_mode("0644") == 0644u);
  CHECK(parse_mode("0") == 0u);
  CHECK(parse_mode("4755") == 04755u);
  CHECK(parse_mode("07777") == 07777u);
  std::string why;
  for (const char* bad : {"", "8", "0x1ff", "rwx", "17777", "-644", "000644"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_mode(bad, &why));
    CHECK_THAT(why, Catch::Contains("octal"));
  }
}

TEST_CASE("human_bytes uses binary units with two decimals", "[util]") {
  CHECK(human_bytes(100) == "100 bytes");
  CHECK(human_bytes(2048) == "2.00 KiB");
  CHECK(human_bytes(8ull << 20) == "8.00 MiB");
  CHECK(human_bytes(4ull << 30) == "4.00 GiB");
  CHECK(human_bytes(3ull << 39) == "1.50 TiB");
}
