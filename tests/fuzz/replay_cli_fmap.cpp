// The CLI's reader of user.famfs.fmap (parse_xfmap and for_each_run in cli/master_read.cpp,
// used by getmap, verify, flush and chkread) over a corpus: the seeds and whatever fuzz_fmap
// found interesting. Built with g++ and the sanitizers in the normal build (not with clang:
// cli/json_read.hpp, which that file includes, does not compile with clang 14 + libstdc++ 12),
// run by tests/fuzz/run.sh after fuzz_fmap:
//
//   replay-cli-fmap DIR...      every file of each DIR; exit 1 on the first broken invariant
//
// Checks: the reader never crashes (any input); on the daemon's own spelling of a map that
// libfamfs accepts (numbers below 2^63: the reader uses %lli) it reads the same map; a map the
// core accepts, spelled as the daemon does, reads back unchanged; for_each_run over an accepted
// map stays inside the device or throws famfs::Error.
#include <dirent.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fmap_text.hpp"

// The reader lives in an anonymous namespace of its command file; compile it here.
#include "cli/master_read.cpp"

namespace {

using famfs::Extent;
using famfs::Fmap;
using namespace famfs::fuzz;
namespace cm = famfs::cli::master;

constexpr uint64_t kTwoTo63 = uint64_t{1} << 63;
constexpr uint64_t kMaxWalk = uint64_t{1} << 30; // walk runs of files up to 1 GiB

bool below_2_63(uint64_t size, const Fmap& f) {
  bool ok = size < kTwoTo63 && f.chunk_size < kTwoTo63;
  for (const Extent& e : f.extents) ok = ok && e.offset < kTwoTo63 && e.len < kTwoTo63;
  return ok;
}

std::string check_walk(const cm::XFmap& x) {
  if (x.size > kMaxWalk) return {};
  uint64_t covered = 0;
  try {
    cm::for_each_run(x, kDeviceSize, [&](uint64_t off, uint64_t dev, uint64_t n) {
      if (off != covered || n == 0 || dev > kDeviceSize || n > kDeviceSize - dev)
        throw std::logic_error("run " + famfs::hex(off) + " -> " + famfs::hex(dev));
      covered += n;
    });
  } catch (const famfs::Error&) {
    return {}; // a clear refusal ("the file map ends before the file does", ...)
  } catch (const std::logic_error& e) {
    return std::string("for_each_run: ") + e.what();
  }
  return covered == x.size ? std::string() : "for_each_run covered " + famfs::hex(covered);
}

std::string check_text(const std::string& t) {
  std::string why;
  const auto x = cm::parse_xfmap(t, &why);
  if (x) {
    if (auto w = check_walk(*x); !w.empty()) return w;
  }
  fc_map m;
  if (fc_parse_fmap(t.data(), t.size(), &m) != 0) return {};
  const Fmap f = from_lib(m);
  if (encode(m.size, f) != t || !below_2_63(m.size, f)) return {};
  if (!x) return "the CLI refuses canonical text libfamfs reads (" + why + ")";
  if (x->size != m.size || !(x->fmap == f)) return "the CLI and libfamfs read different maps";
  return {};
}

std::string check_binary(const std::string& in) {
  if (in.size() < kBinaryBytes) return {};
  uint64_t size;
  std::memcpy(&size, in.data() + 1, 8);
  famfs::omf::LogFmap lf;
  std::memcpy(&lf, in.data() + 9, sizeof(lf));
  const famfs::DecodedFmap d = famfs::fmap_from_log(lf);
  if (famfs::validate_fmap(d, size, kDeviceSize, kLogLen, famfs::omf::kAllocUnit)) return {};
  const std::string t = encode(size, d.fmap);
  std::string why;
  const auto x = cm::parse_xfmap(t, &why);
  if (!x) return "the CLI cannot read a valid map (" + why + ")";
  if (x->size != size || !(x->fmap == d.fmap)) return "the CLI reads another map";
  return check_walk(*x);
}

} // namespace

int main(int argc, char** argv) {
  uint64_t inputs = 0;
  for (int a = 1; a < argc; ++a) {
    DIR* dir = opendir(argv[a]);
    if (!dir) {
      std::fprintf(stderr, "replay-cli-fmap: cannot open %s\n", argv[a]);
      return 2;
    }
    while (const dirent* de = readdir(dir)) {
      if (de->d_name[0] == '.') continue;
      const std::string path = std::string(argv[a]) + "/" + de->d_name;
      std::ifstream in(path, std::ios::binary);
      const std::string data((std::istreambuf_iterator<char>(in)), {});
      if (data.empty()) continue;
      ++inputs;
      const std::string bad = (data[0] & 1) ? check_binary(data) : check_text(data.substr(1));
      if (!bad.empty()) {
        std::fprintf(stderr, "replay-cli-fmap: %s: %s\n", path.c_str(), bad.c_str());
        closedir(dir);
        return 1;
      }
    }
    closedir(dir);
  }
  std::printf("replay-cli-fmap: %llu inputs, 0 failures\n", (unsigned long long)inputs);
  return 0;
}
