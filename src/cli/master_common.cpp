// The CLI side of the master commands: see master_common.hpp.
#include "cli/master_common.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "cli/master_ops.hpp"
#include "cli/util.hpp"
#include "meta/error.hpp"

namespace famfs::cli::master {

// =============================================================================================
// Argument parsing
uint64_t parse_u64_arg(const std::string& s, const char* option) {
  std::string t = s;
  int base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) base = 16;
  if (t.empty() || t[0] == '-' || t[0] == '+' || std::isspace(static_cast<unsigned char>(t[0])))
    throw Error(EINVAL, std::string(option) + ": " + quote(s) + " is not a non-negative number");
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(t.c_str(), &end, base);
  if (errno || !end || *end != '\0')
    throw Error(EINVAL, std::string(option) + ": " + quote(s) + " is not a non-negative number");
  return v;
}

uint32_t parse_id_arg(const std::string& s, const char* option) {
  uint64_t v = parse_u64_arg(s, option);
  if (v > 0xFFFFFFFEull) throw Error(EINVAL, std::string(option) + ": " + quote(s) + " is too large");
  return uint32_t(v);
}

uint64_t parse_size_arg(const std::string& s, const char* option) {
  std::string why;
  auto v = parse_size(s, &why);
  if (!v) throw Error(EINVAL, std::string(option) + ": " + why);
  return *v;
}

uint32_t parse_mode_arg(const std::string& s, const char* option) {
  std::string why;
  auto v = parse_mode(s, &why);
  if (!v) throw Error(EINVAL, std::string(option) + ": " + why);
  return *v;
}

unsigned parse_threads_arg(const std::string& s, unsigned dflt) {
  if (s.empty()) return dflt;
  uint64_t v = parse_u64_arg(s, "-t/--threadct");
  if (v > 256) throw Error(EINVAL, "-t/--threadct: " + quote(s) + " is more than 256 threads");
  return v == 0 ? 1 : unsigned(v);
}

uint32_t current_umask() {
  mode_t m = ::umask(0022);
  ::umask(m);
  return uint32_t(m);
}

std::optional<InterleaveParams> parse_interleave(const InterleaveArgs& a, const Geometry* g) {
  if (!a.given()) return std::nullopt;
  InterleaveParams p;
  p.chunk_size = a.chunk.empty() ? omf::kAllocUnit : parse_size_arg(a.chunk, "-C/--chunksize");
  uint64_t nstrips = a.nstrips.empty() ? 0 : parse_u64_arg(a.nstrips, "-N/--nstrips");
  uint64_t nbuckets = a.nbuckets.empty() ? 0 : parse_u64_arg(a.nbuckets, "-B/--nbuckets");
  if (nstrips < 1 || nstrips > omf::kMaxStrips)
    throw Error(EINVAL, "interleaved allocation needs -N/--nstrips between 1 and 16 (got " +
                            (a.nstrips.empty() ? std::string("none") : a.nstrips) + ")");
  if (nbuckets < 1 || nbuckets > 64)
    throw Error(EINVAL, "interleaved allocation needs -B/--nbuckets between 1 and 64 (got " +
                            (a.nbuckets.empty() ? std::string("none") : a.nbuckets) + ")");
  if (nstrips > nbuckets)
    throw Error(EINVAL, "-N/--nstrips (" + std::to_string(nstrips) +
                            ") must not exceed -B/--nbuckets (" + std::to_string(nbuckets) + ")");
  uint64_t au = g ? g->alloc_unit : omf::kAllocUnit;
  if (p.chunk_size == 0 || (p.chunk_size & (p.chunk_size - 1)) || p.chunk_size % au)
    throw Error(EINVAL, "-C/--chunksize " + a.chunk + " must be a power of two and a multiple of " +
                            "the allocation unit (" + human_bytes(au) + ")");
  if (g && g->device_size / nbuckets < (1ull << 30))
    throw Error(EINVAL, "-B/--nbuckets " + std::to_string(nbuckets) + " is too many for this " +
                            human_bytes(g->device_size) + " device: each bucket must be at least 1 GiB");
  p.nstrips = uint32_t(nstrips);
  p.nbuckets = uint32_t(nbuckets);
  return p;
}

// =============================================================================================
// Messages
void CliEvents::error(const std::string& message) {
  std::lock_guard<std::mutex> g(mu_);
  print_error(prog_, message);
}

void CliEvents::warning(const std::string& message) {
  std::lock_guard<std::mutex> g(mu_);
  print_warning(prog_, message);
}

void CliEvents::note(const std::string& message) {
  if (!verbose_) return;
  std::lock_guard<std::mutex> g(mu_);
  std::printf("%s: %s\n", prog_.c_str(), message.c_str());
}

void CliEvents::waiting(const std::string& message) { error(message); }

std::unique_ptr<famfs::master::ProgressSink> CliEvents::progress(uint64_t total_bytes,
                                                                 uint64_t total_files) {
  return std::make_unique<Progress>(total_bytes, total_files, prog_);
}

// =============================================================================================
// Progress
Progress::Progress(uint64_t total_bytes, uint64_t total_files, std::string label)
    : total_bytes_(total_bytes), total_files_(total_files), label_(std::move(label)),
      start_(std::chrono::steady_clock::now()) {
  if (::isatty(2)) thr_ = std::thread([this] { run(); });
}

Progress::~Progress() { finish(); }

void Progress::finish() {
  if (stop_.exchange(true)) return;
  if (thr_.joinable()) thr_.join();
  if (shown_) {
    draw(true);
    std::fputc('\n', stderr);
  }
}

// How long work runs before the bar appears: 1 s, or $FAMFS_PROGRESS_DELAY_MS (tests set 0 so
// that whether a bar appears does not depend on how fast this machine copies).
std::chrono::milliseconds progress_delay() {
  const char* v = std::getenv("FAMFS_PROGRESS_DELAY_MS");
  char* end = nullptr;
  long ms = v ? std::strtol(v, &end, 10) : -1;
  return std::chrono::milliseconds(v && *v && end && *end == '\0' && ms >= 0 ? ms : 1000);
}

void Progress::run() {
  using namespace std::chrono;
  const milliseconds delay = progress_delay();
  while (!stop_.load()) {
    if (steady_clock::now() - start_ >= delay) {
      shown_ = true;
      draw(false);
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
}

void Progress::draw(bool final) {
  using namespace std::chrono;
  double secs = duration<double>(steady_clock::now() - start_).count();
  uint64_t b = bytes_.load(), f = files_.load();
  double frac = total_bytes_ ? double(b) / double(total_bytes_)
                             : (total_files_ ? double(f) / double(total_files_) : 1.0);
  if (final) frac = std::min(frac, 1.0);
  frac = std::clamp(frac, 0.0, 1.0);
  const int width = 30;
  int fill = int(frac * width + 0.5);
  std::string bar(size_t(fill), '#');
  bar += std::string(size_t(width - fill), '.');
  double rate = secs > 0 ? double(b) / secs / 1e9 : 0;
  std::string files;
  if (total_files_ > 1) files = "  " + std::to_string(f) + "/" + std::to_string(total_files_) + " files";
  std::fprintf(stderr, "\r%s [%s] %3d%%  %s / %s  %.2f GB/s%s   ", label_.c_str(), bar.c_str(),
               int(frac * 100), human_bytes(b).c_str(), human_bytes(total_bytes_).c_str(), rate,
               files.c_str());
  std::fflush(stderr);
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t c = s.find(',', pos);
    out.push_back(s.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  return out;
}

} // namespace famfs::cli::master
