// libFuzzer target: the user.famfs.fmap text (docs/design.md) as the daemon writes it
// (proto::format_fmap_text), as the CLI parses it (proto::parse_fmap_text) and as libfamfs
// parses it (fc_parse_fmap in lib/famfs_core.c), differentially against each other and against
// the core's fmap rules (meta/fmap.hpp: validate_fmap, capacity, resolve) where they overlap.
//
// Input: first byte selects the mode (make_seeds.py writes both).
//   mode 0 (text):   the rest is an fmap text (seeds: what a running daemon served). The parser
//                    may not crash (neither may the CLI's); where it accepts a map, the CLI's
//                    parser reads the same one and the core's rules accept it too
//                    (4 KiB unit, extents above the log), both resolve every offset alike, and
//                    the daemon's spelling of that map parses back to it.
//   mode 1 (binary): u64 file size + a 416-byte on-media fmap (spec B§4). When the core
//                    accepts it (as replay would), its text as the daemon writes it must parse
//                    (in libfamfs and in the CLI) to the same map, with the same capacity and
//                    resolution.
// Interleaved strips whose length is not a multiple of the chunk are checked like every map
// (issue 8 defect 7: libfamfs refused them; both sides now share src/proto/fmap_rule.h).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fmap_text.hpp"

namespace {

using famfs::DecodedFmap;
using famfs::Extent;
using famfs::Fmap;
using famfs::hex;
using namespace famfs::fuzz;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_fmap: invariant broken: %s\n", what.c_str());
  std::abort();
}

// Both sides resolve every file offset to the same device byte.
void same_resolution(uint64_t size, const Fmap& core, const fc_map& lib, const std::string& t) {
  if (core.capacity() != fc_capacity(&lib))
    fail("capacity: core " + hex(core.capacity()) + ", libfamfs " + hex(fc_capacity(&lib)) +
         " for\n" + t);
  const uint64_t chunk = core.chunk_size ? core.chunk_size : kPage;
  const uint64_t probes[] = {0, size / 3, size / 2, size ? size - 1 : 0, chunk - 1, chunk,
                             chunk * core.extents.size(), chunk * core.extents.size() + 1,
                             core.capacity() ? core.capacity() - 1 : 0};
  for (uint64_t off : probes) {
    const auto r = core.resolve(off);
    uint64_t dev = 0, run = 0;
    const int rc = fc_resolve(&lib, off, &dev, &run);
    if (bool(r) != (rc == 0))
      fail("resolve " + hex(off) + ": core " + (r ? "maps it" : "does not") + ", libfamfs rc " +
           std::to_string(rc) + " for\n" + t);
    if (r && (r->dev_offset != dev || r->len != run))
      fail("resolve " + hex(off) + ": core " + hex(r->dev_offset) + "+" + hex(r->len) +
           ", libfamfs " + hex(dev) + "+" + hex(run) + " for\n" + t);
  }
}

// A map the core accepts, written as the daemon writes it, read back by libfamfs.
void round_trip(uint64_t size, const Fmap& f) {
  const std::string t = encode(size, f);
  const auto cli = famfs::proto::parse_fmap_text(t);
  if (!cli || cli->size != size || !(cli->fmap == f))
    fail("the CLI's parser does not read back a map the core accepts:\n" + t);
  fc_map m;
  const int rc = fc_parse_fmap(t.data(), t.size(), &m);
  if (rc != 0) fail("libfamfs refuses a map the core accepts:\n" + t);
  if (m.size != size || !(from_lib(m) == f)) fail("libfamfs reads another map from\n" + t);
  same_resolution(size, f, m, t);
}

void binary_mode(const uint8_t* data, std::size_t n) {
  if (n < kBinaryBytes) return;
  uint64_t size;
  std::memcpy(&size, data + 1, 8);
  famfs::omf::LogFmap lf;
  std::memcpy(&lf, data + 9, sizeof(lf));
  const DecodedFmap d = famfs::fmap_from_log(lf);
  // Replay's rules with the default geometry (2 MiB unit, 8 MiB log) on a large device.
  if (famfs::validate_fmap(d, size, kDeviceSize, kLogLen, famfs::omf::kAllocUnit)) return;
  round_trip(size, d.fmap);
}

void text_mode(const uint8_t* data, std::size_t n) {
  const std::string t(reinterpret_cast<const char*>(data) + 1, n - 1);
  const auto cli = famfs::proto::parse_fmap_text(t); // must not crash on anything
  fc_map m;
  if (fc_parse_fmap(t.data(), t.size(), &m) != 0) return;
  // Both parsers read the daemon's spelling of a map alike (other spellings, e.g. decimal or
  // octal numbers, are the CLI's leniency and not compared).
  if (encode(m.size, from_lib(m)) == t &&
      (!cli || cli->size != m.size || !(cli->fmap == from_lib(m))))
    fail("libfamfs and the CLI read different maps from\n" + t);
  if (m.n < 1 || m.n > FC_MAX_EXTENTS || fc_capacity(&m) < m.size)
    fail("libfamfs accepted an impossible map:\n" + t);
  const Fmap f = from_lib(m);
  // Where the rules overlap (extents above the log and inside the device), the core agrees.
  bool overlap = true;
  for (const Extent& e : f.extents)
    overlap = overlap && e.offset >= kDataStart && e.offset <= kDeviceSize &&
              e.len <= kDeviceSize - e.offset;
  if (overlap) {
    const auto core_why = famfs::validate_fmap(decoded(f), m.size, kDeviceSize, kLogLen, kPage);
    if (core_why) fail("libfamfs accepts a map the core refuses (" + *core_why + "):\n" + t);
    same_resolution(m.size, f, m, t);
  }
  // The daemon's spelling of what was read parses back to the same map.
  const std::string canon = encode(m.size, f);
  fc_map again;
  if (fc_parse_fmap(canon.data(), canon.size(), &again) != 0 || again.size != m.size ||
      !(from_lib(again) == f))
    fail("libfamfs cannot read back its own map as the daemon writes it:\n" + canon);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 1) return -1;
  if (data[0] & 1) binary_mode(data, size);
  else text_mode(data, size);
  return 0;
}
