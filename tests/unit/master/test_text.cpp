// master/text.hpp: the words of the library's messages.
#include <catch2/catch.hpp>

#include "master/text.hpp"

using famfs::master::count_of;
using famfs::master::human_bytes;

TEST_CASE("count_of: the word agrees with the count") {
  CHECK(count_of(0, "log entry", "log entries") == "0 log entries");
  CHECK(count_of(1, "log entry", "log entries") == "1 log entry");
  CHECK(count_of(2, "log entry", "log entries") == "2 log entries");
  CHECK(count_of(15420, "file", "files") == "15420 files");
}

TEST_CASE("human_bytes: binary units") {
  CHECK(human_bytes(512) == "512 bytes");
  CHECK(human_bytes(4ull << 30) == "4.00 GiB");
}
