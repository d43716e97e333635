// The control socket's messages (proto/control.hpp): every op round-trips, and what a hostile
// client may send is refused by name, never thrown out of the codec.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "meta/log.hpp"
#include "proto/control.hpp"
#include "proto/unique_fd.hpp"

using namespace famfs;
namespace pc = famfs::proto::control;

namespace {

pc::Request request(pc::Op op) {
  pc::Request q;
  q.op = op;
  return q;
}

pc::Request round_trip(const pc::Request& q) {
  std::string why;
  auto back = pc::decode_request(pc::encode(q), &why);
  INFO(why);
  REQUIRE(back);
  CHECK(back->op == q.op);
  return *back;
}

std::string refusal(std::string_view text) {
  std::string why;
  CHECK_FALSE(pc::decode_request(text, &why));
  return why;
}

} // namespace

TEST_CASE("control: requests round-trip") {
  pc::Request q = request(pc::Op::Lookup);
  q.path = "a/b";
  CHECK(round_trip(q).path == "a/b");

  q = request(pc::Op::Reserve);
  q.n = 7;
  CHECK(round_trip(q).n == 7);

  q = request(pc::Op::Allocate);
  q.n = 4096;
  q.path = "d/f";
  q.interleave = InterleaveParams{4, 2, 2u << 20};
  pc::Request a = round_trip(q);
  CHECK(a.n == 4096);
  REQUIRE(a.interleave);
  CHECK(a.interleave->nbuckets == 4);
  CHECK(a.interleave->chunk_size == (2u << 20));

  q = request(pc::Op::Release);
  q.fmap = Fmap{Fmap::Kind::Simple, {{0x800000, 0x200000}}, 0};
  CHECK(round_trip(q).fmap == q.fmap);

  q = request(pc::Op::Append);
  q.entry = make_mkdir_entry("dir", 0755, 1, 2);
  pc::Request e = round_trip(q);
  CHECK(std::memcmp(&e.entry, &q.entry, sizeof q.entry) == 0);

  for (pc::Op op : {pc::Op::Hello, pc::Op::FreeSlots, pc::Op::FreeBytes, pc::Op::Logplay})
    round_trip(request(op));
}

TEST_CASE("control: replies round-trip, failures carry errno and message") {
  pc::Reply r;
  r.found = pc::Found{false, 0644, 1, 2, 4096, 9, Fmap{Fmap::Kind::Simple, {{0x800000, 0x200000}}, 0}};
  auto back = pc::decode_reply(pc::encode(r, pc::Op::Lookup), pc::Op::Lookup, nullptr);
  REQUIRE(back);
  REQUIRE(back->found);
  CHECK(back->found->size == 4096);
  CHECK(back->found->log_index == 9);
  CHECK(back->found->fmap == r.found->fmap);

  pc::Reply dir;
  dir.found = pc::Found{true, 0755, 0, 0, 0, 3, {}};
  back = pc::decode_reply(pc::encode(dir, pc::Op::Lookup), pc::Op::Lookup, nullptr);
  REQUIRE(back);
  REQUIRE(back->found);
  CHECK(back->found->is_dir);

  pc::Reply none;
  back = pc::decode_reply(pc::encode(none, pc::Op::Lookup), pc::Op::Lookup, nullptr);
  REQUIRE(back);
  CHECK_FALSE(back->found);

  pc::Reply app;
  app.value = 12;
  app.refused = "no";
  back = pc::decode_reply(pc::encode(app, pc::Op::Append), pc::Op::Append, nullptr);
  REQUIRE(back);
  CHECK(back->value == 12);
  CHECK(back->refused == std::optional<std::string>("no"));

  pc::Reply bad;
  bad.err = ENOSPC;
  bad.message = "out of space";
  back = pc::decode_reply(pc::encode(bad, pc::Op::Allocate), pc::Op::Allocate, nullptr);
  REQUIRE(back);
  CHECK(back->err == ENOSPC);
  CHECK(back->message == "out of space");
}

TEST_CASE("control: hostile requests are refused by name") {
  CHECK_THAT(refusal("not json"), Catch::Contains("not a JSON object"));
  CHECK_THAT(refusal("[1,2]"), Catch::Contains("not a JSON object"));
  CHECK_THAT(refusal(R"({"op":"format"})"), Catch::Contains("unknown op 'format'"));
  CHECK_THAT(refusal(R"({"op":"reserve","n":-1})"), Catch::Contains("'n'"));
  CHECK_THAT(refusal(R"({"op":"reserve","n":"5"})"), Catch::Contains("'n'"));
  CHECK_THAT(refusal(R"({"op":"reserve","n":18446744073709551615})"), Catch::Contains("beyond"));
  CHECK_THAT(refusal(R"({"op":"lookup","path":")" + std::string(200, 'a') + "\"}"),
             Catch::Contains("longer than"));
  CHECK_THAT(refusal(R"({"op":"append","entry":"00"})"), Catch::Contains("'entry'"));
  CHECK_THAT(refusal(R"({"op":"append","entry":")" + std::string(2 * sizeof(omf::LogEntry), 'z') +
                     "\"}"), Catch::Contains("hex"));
  CHECK_THAT(refusal(R"({"op":"release","fmap":"famfs-fmap 1\nsize 0x1\nsimple 99\n"})"),
             Catch::Contains("extent"));
  CHECK_THAT(refusal(R"({"op":"allocate","size":1,"what":"x","interleave":7})"),
             Catch::Contains("interleave"));
  CHECK_THAT(refusal(std::string(pc::kMaxMessage + 1, ' ')), Catch::Contains("size limit"));
}

TEST_CASE("control: one packet per message, oversized packets are refused") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
  proto::UniqueFd a(sv[0]), b(sv[1]);
  int err = 0;
  REQUIRE(pc::send_message(a.get(), "one", false, &err));
  REQUIRE(pc::send_message(a.get(), "two", false, &err));
  CHECK(pc::recv_message(b.get(), &err) == std::optional<std::string>("one"));
  CHECK(pc::recv_message(b.get(), &err) == std::optional<std::string>("two"));
  CHECK_FALSE(pc::send_message(a.get(), std::string(pc::kMaxMessage + 1, 'x'), false, &err));
  CHECK(err == EMSGSIZE);
  const std::string big(pc::kMaxMessage + 100, 'x');
  REQUIRE(::send(a.get(), big.data(), big.size(), 0) == ssize_t(big.size()));
  CHECK_FALSE(pc::recv_message(b.get(), &err));
  CHECK(err == EMSGSIZE);
  a.reset();
  CHECK_FALSE(pc::recv_message(b.get(), &err));
  CHECK(err == 0);
}
