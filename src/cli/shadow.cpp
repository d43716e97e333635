#include "cli/shadow.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cli/util.hpp"
#include "dax/cache.hpp"
#include "meta/error.hpp"
#include "meta/geometry.hpp"
#include "meta/log.hpp"
#include "meta/namespace.hpp"
#include "meta/replay.hpp"
#include "proto/unique_fd.hpp"

namespace famfs::cli {

namespace {

using proto::UniqueFd;

constexpr const char* kProg = "famfs logplay";
constexpr mode_t kShadowDirMode = 0755;  // DIR and DIR/root (B§7.1)
constexpr mode_t kShadowFileMode = 0644; // every YAML file (B§7.1)
constexpr uint32_t kSbFileMode = 0444;   // .meta/.superblock on every host
constexpr uint32_t kLogFileModeMaster = 0644;
constexpr uint32_t kLogFileModeClient = 0444;

// Sequential libyaml emission into a string; the first failure sticks (later events are
// dropped) and is reported by finish().
class YamlWriter {
 public:
  YamlWriter() {
    ok_ = yaml_emitter_initialize(&em_) != 0;
    if (ok_) yaml_emitter_set_output(&em_, &YamlWriter::append, &out_);
  }
  ~YamlWriter() { yaml_emitter_delete(&em_); }
  YamlWriter(const YamlWriter&) = delete;
  YamlWriter& operator=(const YamlWriter&) = delete;

  void stream(bool start) {
    yaml_event_t ev;
    if (start)
      yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    else
      yaml_stream_end_event_initialize(&ev);
    emit(ev);
  }
  void document(bool start) { // explicit "---" and "..."
    yaml_event_t ev;
    if (start)
      yaml_document_start_event_initialize(&ev, nullptr, nullptr, nullptr, 0);
    else
      yaml_document_end_event_initialize(&ev, 0);
    emit(ev);
  }
  void mapping(bool start) {
    yaml_event_t ev;
    if (start)
      yaml_mapping_start_event_initialize(&ev, nullptr, nullptr, 1, YAML_BLOCK_MAPPING_STYLE);
    else
      yaml_mapping_end_event_initialize(&ev);
    emit(ev);
  }
  void sequence(bool start) {
    yaml_event_t ev;
    if (start)
      yaml_sequence_start_event_initialize(&ev, nullptr, nullptr, 1, YAML_BLOCK_SEQUENCE_STYLE);
    else
      yaml_sequence_end_event_initialize(&ev);
    emit(ev);
  }
  void scalar(const std::string& s) {
    yaml_event_t ev;
    // Plain where YAML allows it; libyaml quotes what plain style cannot carry.
    yaml_scalar_event_initialize(&ev, nullptr, nullptr,
                                 reinterpret_cast<yaml_char_t*>(const_cast<char*>(s.data())),
                                 int(s.size()), 1, 1, YAML_ANY_SCALAR_STYLE);
    emit(ev);
  }
  void pair(const std::string& k, const std::string& v) {
    scalar(k);
    scalar(v);
  }
  std::optional<std::string> finish(std::string* why) {
    if (ok_) return out_;
    if (why) *why = em_.problem ? em_.problem : "libyaml could not emit the document";
    return std::nullopt;
  }

 private:
  static int append(void* data, unsigned char* buf, size_t n) {
    static_cast<std::string*>(data)->append(reinterpret_cast<const char*>(buf), n);
    return 1;
  }
  void emit(yaml_event_t& ev) {
    if (!ok_) {
      yaml_event_delete(&ev);
      return;
    }
    ok_ = yaml_emitter_emit(&em_, &ev) != 0; // takes the event, also on failure
  }
  yaml_emitter_t em_{};
  bool ok_ = false;
  std::string out_;
};

std::string dec(uint64_t v) { return std::to_string(v); }

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size() || (n == 2 && c < 0xc2)) return false;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 0x2) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
      return false;
    i += n;
  }
  return true;
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string octal_mode(uint32_t m) { // "0%o": 0644 -> "0644", 0 -> "00"
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%o", m);
  return buf;
}

void extent_list(YamlWriter& w, const std::vector<Extent>& exts) {
  w.scalar("simple_ext_list");
  w.sequence(true);
  for (const Extent& e : exts) {
    w.mapping(true);
    w.pair("devindex", "0");
    w.pair("offset", hex(e.offset));
    w.pair("length", hex(e.len));
    w.mapping(false);
  }
  w.sequence(false);
}

// ---- the tree -----------------------------------------------------------------------------

struct Counts {
  uint64_t new_files = 0, new_dirs = 0, existed_files = 0, existed_dirs = 0;
  uint64_t file_errors = 0, dir_errors = 0, yaml_checked = 0, yaml_errors = 0;
};

bool make_dir(const std::string& path, mode_t mode) {
  return ::mkdir(path.c_str(), mode) == 0 || errno == EEXIST;
}

std::optional<std::string> read_small_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) s.append(buf, size_t(n));
  if (n < 0) return std::nullopt;
  return s;
}

bool write_new_file(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kShadowFileMode));
  if (!fd) return false;
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n <= 0) {
      ::unlink(path.c_str());
      return false;
    }
    done += size_t(n);
  }
  return true;
}

// One file: a new shadow file, or (first wins) an existing one left alone and, with -s, checked.
void put_file(const std::string& root, const ShadowFile& f, const ShadowOptions& o, Counts& c) {
  const std::string path = root + "/" + f.path;
  std::string why;
  auto yaml = shadow_yaml(f, &why);
  if (!yaml) {
    print_error(kProg, f.path + ": cannot write its shadow YAML: " + why);
    ++c.file_errors;
    return;
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      print_error(kProg, path + ": exists and is not a regular file; the shadow file of " +
                             f.path + " cannot go there");
      ++c.file_errors;
      return;
    }
    ++c.existed_files;
    if (o.test) {
      ++c.yaml_checked;
      if (read_small_file(path) != yaml) {
        print_error(kProg, path + ": differs from what the log says for " + f.path);
        ++c.yaml_errors;
      }
    }
    return;
  }
  if (o.dry_run) {
    ++c.new_files;
    return;
  }
  if (!write_new_file(path, *yaml)) {
    print_error(kProg, path + ": " + std::strerror(errno));
    ++c.file_errors;
    return;
  }
  if (o.verbose) std::printf("famfs_logplay(shadow): created file %s\n", f.path.c_str());
  ++c.new_files;
}

void put_dir(const std::string& root, const Inode& n, const std::string& rel,
             const ShadowOptions& o, Counts& c) {
  const std::string path = root + "/" + rel;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      ++c.existed_dirs;
    } else {
      print_error(kProg, path + ": exists and is not a directory");
      ++c.dir_errors;
    }
    return;
  }
  if (o.dry_run) {
    ++c.new_dirs;
    return;
  }
  if (::mkdir(path.c_str(), n.mode) != 0) {
    print_error(kProg, path + ": " + std::strerror(errno));
    ++c.dir_errors;
    return;
  }
  // As upstream: chown only when both ids are non-zero (B§7.1).
  if (n.uid && n.gid && ::chown(path.c_str(), n.uid, n.gid) != 0)
    print_warning(kProg, path + ": chown: " + std::strerror(errno));
  if (o.verbose) std::printf("famfs_logplay(shadow): created directory %s\n", rel.c_str());
  ++c.new_dirs;
}

ShadowFile meta_file(const char* rel, uint64_t size, uint32_t mode, uint64_t offset) {
  ShadowFile f;
  f.path = rel;
  f.size = size;
  f.mode = mode;
  f.fmap.extents.push_back({offset, size});
  return f;
}

} // namespace

std::optional<std::string> shadow_yaml(const ShadowFile& f, std::string* why) {
  // libyaml refuses text that is not UTF-8, but its error path frees the refused event twice
  // (libyaml 0.2.5, seen under ASan): refuse such a path before libyaml sees it.
  if (!valid_utf8(f.path)) {
    if (why) *why = "the path is not valid UTF-8, which YAML cannot carry";
    return std::nullopt;
  }
  YamlWriter w;
  w.stream(true);
  w.document(true);
  w.mapping(true);
  w.scalar("file");
  w.mapping(true);
  w.pair("path", f.path);
  w.pair("size", dec(f.size));
  w.pair("flags", dec(f.flags));
  w.pair("mode", octal_mode(f.mode));
  w.pair("uid", dec(f.uid));
  w.pair("gid", dec(f.gid));
  if (f.fmap.kind == Fmap::Kind::Interleave) {
    w.pair("nextents", "1"); // niext: one interleaved extent
    w.scalar("striped_ext_list");
    w.sequence(true);
    w.mapping(true);
    w.pair("nstrips", dec(f.fmap.extents.size()));
    w.pair("chunk_size", hex(f.fmap.chunk_size));
    extent_list(w, f.fmap.extents);
    w.mapping(false);
    w.sequence(false);
  } else {
    w.pair("nextents", dec(f.fmap.extents.size()));
    extent_list(w, f.fmap.extents);
  }
  w.mapping(false);
  w.mapping(false);
  w.document(false);
  w.stream(false);
  return w.finish(why);
}

int shadow_logplay(std::span<const std::byte> device, const std::optional<Uuid>& host,
                   const ShadowOptions& o) {
  const omf::Superblock sb = read_superblock(device);
  const SbStatus st = check_superblock(sb);
  if (!sb_usable(st)) throw Error(EINVAL, std::string("the device holds ") + sb_status_text(st));
  const Geometry g = geometry_of(sb, device);
  const bool master = !o.client && role_of(sb, host ? &*host : nullptr) == Role::Master;
  Namespace ns(g, master);
  Replayer rp(device, dax::cpu_cache_ops());
  const ReplayReport r = rp.play(ns);

  const std::string root = o.dir + "/root";
  if (!o.dry_run && (!make_dir(o.dir, kShadowDirMode) || !make_dir(root, kShadowDirMode) ||
                     !make_dir(root + "/.meta", kShadowDirMode)))
    throw Error(errno, root + ": cannot create the shadow root: " + std::strerror(errno));

  // The meta files first, as upstream's shadow mkmeta (not counted as new files).
  Counts meta;
  put_file(root, meta_file(".meta/.superblock", omf::kSuperblockRegion, kSbFileMode, 0), o, meta);
  put_file(root, meta_file(".meta/.log", g.log_len, master ? kLogFileModeMaster : kLogFileModeClient,
                           omf::kLogOffset), o, meta);
  Counts c;
  c.file_errors = meta.file_errors;
  c.yaml_checked = meta.yaml_checked;
  c.yaml_errors = meta.yaml_errors;
  for (Ino ino = kLogIno + 1; ino <= ns.max_ino(); ++ino) {
    const Inode* n = ns.get(ino);
    const std::string rel = ns.path_of(ino);
    if (n->is_dir) {
      put_dir(root, *n, rel, o, c);
      continue;
    }
    const omf::LogEntry e = read_log_entry(device, n->log_index);
    put_file(root, ShadowFile{rel, n->size, e.famfs_fm.fm_flags, n->mode, n->uid, n->gid, n->fmap}, o, c);
  }

  // Upstream's summary line, word for word (scripts parse it).
  std::printf("famfs_logplay(shadow): %llu log entries; %llu new files; %llu new directories%s\n",
              static_cast<unsigned long long>(rp.played()),
              static_cast<unsigned long long>(c.new_files),
              static_cast<unsigned long long>(c.new_dirs), o.dry_run ? " (dry run)" : "");
  if (o.verbose)
    std::printf("\tExisted: %llu files, %llu directories\n",
                static_cast<unsigned long long>(c.existed_files + r.existed),
                static_cast<unsigned long long>(c.existed_dirs));
  if (c.file_errors || c.dir_errors)
    std::printf("\t%llu file errors and %llu dir errors\n",
                static_cast<unsigned long long>(c.file_errors),
                static_cast<unsigned long long>(c.dir_errors));
  if (o.test)
    std::printf("\tshadow yaml checked for %llu files\n\tthere were %llu yaml errors detected\n",
                static_cast<unsigned long long>(c.yaml_checked),
                static_cast<unsigned long long>(c.yaml_errors));
  for (const ReplayIssue& s : r.skipped)
    std::printf("famfs_logplay(shadow): skipped entry %llu: %s\n",
                static_cast<unsigned long long>(s.index), s.what.c_str());
  if (r.damage)
    std::printf("famfs_logplay(shadow): log damaged at entry %llu: %s (entries after it are not "
                "played)\n",
                static_cast<unsigned long long>(r.damage->index), r.damage->what.c_str());
  return int(r.errors() + c.file_errors + c.dir_errors + c.yaml_errors);
}

} // namespace famfs::cli
