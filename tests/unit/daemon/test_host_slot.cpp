// The host slot keeper (src/daemon/host_slot.hpp) over an in-memory device: registration,
// publishing, the master evicting a silent host, the evicted host noticing and registering
// again, the half-lease serving rule, and nothing written without the feature.
#include <catch2/catch.hpp>

#include <sys/mman.h>

#include <cstring>

#include "daemon/host_slot.hpp"
#include "meta/extension.hpp"
#include "meta/format.hpp"

using namespace famfs;
using namespace famfs::daemon;

namespace {

constexpr std::size_t kDev = 16u << 20; // superblock region + 8 MiB log + a little

struct Dev {
  std::byte* p;
  Dev() {
    p = static_cast<std::byte*>(
        mmap(nullptr, kDev, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    REQUIRE(p != MAP_FAILED);
    SuperblockParams sp;
    sp.log_len = 8u << 20;
    sp.device_size = kDev;
    sp.fs_uuid = uuid_random();
    sp.dev_uuid = uuid_random();
    sp.system_uuid = uuid_random();
    sp.device_path = "/dev/test0.0";
    format_device(span(), sp, CacheOps{});
  }
  ~Dev() { munmap(p, kDev); }
  std::span<std::byte> span() { return {p, kDev}; }
  void enable(uint32_t lease_ms) {
    ext::write_evictions(span(), ext::EvictionTable{});
    ext::write_header(span(), ext::make_header(ext::fs_uuid_of(span()), ext::kFeatureDelete,
                                               lease_ms));
  }
  std::vector<ext::HostView> hosts() {
    const ext::HeaderRead h = ext::read_header(span(), ext::fs_uuid_of(span()));
    return ext::read_hosts(span(), h.header, CacheOps{});
  }
};

HostSlotKeeper keeper(Dev& d, bool master, const char* name) {
  HostSlotKeeper::Config c;
  c.device = d.span();
  c.system_uuid = uuid_random();
  c.master = master;
  c.hostname = name;
  c.pid = 1;
  return HostSlotKeeper(std::move(c));
}

} // namespace

TEST_CASE("host slot: nothing is written without the feature", "[host_slot]") {
  Dev d;
  std::vector<std::byte> before(d.p + ext::kHeaderOffset, d.p + ext::slot_offset(ext::kMaxHostSlots));
  HostSlotKeeper k = keeper(d, false, "a");
  k.start();
  CHECK(k.poll(3, ext::kNothingOpen, 1000) == HostSlotKeeper::Event::None);
  CHECK_FALSE(k.registered());
  CHECK(k.may_serve(1'000'000));
  CHECK(std::memcmp(before.data(), d.p + ext::kHeaderOffset, before.size()) == 0);
}

TEST_CASE("host slot: register, publish, evicted after the lease, register again", "[host_slot]") {
  Dev d;
  d.enable(1000);
  HostSlotKeeper m = keeper(d, true, "master");
  HostSlotKeeper c = keeper(d, false, "client");
  m.start();
  c.start();
  REQUIRE(m.slot() == 0u);
  REQUIRE(c.slot() == 1u);
  const uint64_t gen = c.generation();
  auto hs = d.hosts();
  REQUIRE(hs.size() == 2);
  CHECK(hs[1].hostname == "client");
  CHECK(hs[1].replayed == 0); // registered before the first replay
  CHECK(hs[1].counts);

  // Both publish; the master times the client's heartbeat on its own clock.
  int64_t t = 10'000;
  for (int i = 0; i < 5; ++i, t += 200) {
    CHECK(m.poll(7, ext::kNothingOpen, t) == HostSlotKeeper::Event::None);
    CHECK(c.poll(7, 5, t) == HostSlotKeeper::Event::None);
  }
  hs = d.hosts();
  CHECK(hs[1].replayed == 7);
  CHECK(hs[1].oldest_open == 5);
  CHECK(c.may_serve(t));
  CHECK_FALSE(c.may_serve(t + 600)); // more than half a lease since its last publish

  // The client stops; after a whole lease without a heartbeat the master evicts it.
  for (int i = 0; i < 8; ++i, t += 200) m.poll(8, ext::kNothingOpen, t);
  hs = d.hosts();
  CHECK(hs[1].evicted);
  CHECK_FALSE(hs[1].counts);
  CHECK(ext::reusable(7, 5, hs)); // the master no longer waits for it

  // Continued: it notices, stops serving, and comes back with a new generation.
  CHECK(c.poll(8, 5, t) == HostSlotKeeper::Event::Evicted);
  CHECK_FALSE(c.may_serve(t));
  c.reregister(8, ext::kNothingOpen, t);
  CHECK(c.generation() > gen);
  CHECK(c.may_serve(t));
  hs = d.hosts();
  CHECK(hs[1].counts);
  CHECK_FALSE(hs[1].evicted);

  // A clean unmount leaves the slot LEAVING: not counted, reusable by the next host.
  c.leave();
  hs = d.hosts();
  CHECK_FALSE(hs[1].counts);
  HostSlotKeeper n = keeper(d, false, "next");
  n.start();
  CHECK(n.slot() == 1u);
}

TEST_CASE("host slot: delete enabled while running registers at the next poll", "[host_slot]") {
  Dev d;
  HostSlotKeeper c = keeper(d, false, "c");
  c.start();
  CHECK_FALSE(c.registered());
  d.enable(2000);
  CHECK(c.poll(4, ext::kNothingOpen, 50) == HostSlotKeeper::Event::Registered);
  CHECK(c.registered());
  CHECK(d.hosts().at(0).replayed == 4);
}

TEST_CASE("open indexes: the oldest log index among open handles", "[host_slot]") {
  OpenIndexes o;
  CHECK(o.oldest() == ext::kNothingOpen);
  o.add(9);
  o.add(4);
  o.add(4);
  CHECK(o.oldest() == 4);
  o.remove(4);
  CHECK(o.oldest() == 4);
  o.remove(4);
  CHECK(o.oldest() == 9);
  o.remove(12); // never opened: ignored
  o.remove(9);
  CHECK(o.oldest() == ext::kNothingOpen);
}
