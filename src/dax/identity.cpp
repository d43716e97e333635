// Host identity, byte-compatible with upstream (spec B§2.2): a host that runs upstream famfs
// and this project has one identity, whichever created the file.
#include "dax/identity.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "meta/error.hpp"

namespace famfs::dax {

namespace {

// An fd that closes itself.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// mkdir -p with mode 0755 for every directory we create (upstream creates /opt/famfs 0755;
// chmod afterwards so the umask does not change it).
void make_dirs(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      throw Error(ENOTDIR, dir + ": exists but is not a directory, so the host identity file "
                                 "cannot be created in it; remove it or use --system-uuid-file");
    return;
  }
  std::string parent = parent_of(dir);
  if (parent != dir) make_dirs(parent);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    throw Error(errno, dir + ": cannot create the directory for the host identity: " +
                           std::strerror(errno) + "; run as root or use --system-uuid-file");
  ::chmod(dir.c_str(), 0755);
}

} // namespace

std::string system_uuid_path(const std::string& option) {
  if (!option.empty()) return option;
  if (const char* env = std::getenv(kSystemUuidEnv); env && *env) return env;
  return kDefaultSystemUuidFile;
}

std::optional<Uuid> read_system_uuid(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) return std::nullopt;
  char buf[256];
  ssize_t n = ::read(f.fd, buf, sizeof buf);
  if (n <= 0) return std::nullopt;
  // fscanf("%36s"): skip leading white space, then up to 36 non-space characters.
  ssize_t i = 0;
  while (i < n && std::isspace(static_cast<unsigned char>(buf[i]))) ++i;
  std::string text;
  while (i < n && text.size() < 36 && buf[i] != '\0' &&
         !std::isspace(static_cast<unsigned char>(buf[i])))
    text.push_back(buf[i++]);
  uuid_t u;
  if (uuid_parse(text.c_str(), u) != 0) return std::nullopt;
  Uuid out;
  std::memcpy(out.data(), u, 16);
  return out;
}

Uuid get_or_create_system_uuid(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    if (auto u = read_system_uuid(path)) return *u;
    throw Error(EINVAL, path + ": host identity file does not hold a UUID (or cannot be read); "
                               "fix or remove it (a new identity makes this host a client of "
                               "file systems it formatted)");
  }
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
    throw Error(EINVAL, path + ": exists but is not a regular file; remove it so the host "
                               "identity can be created there, or use --system-uuid-file");

  make_dirs(parent_of(path));
  uuid_t u;
  uuid_generate(u);
  char text[37];
  uuid_unparse_lower(u, text); // 36 chars + NUL: exactly the 37 bytes upstream writes

  Fd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  if (f.fd < 0) {
    if (errno == EEXIST) { // another process created it first: use theirs
      if (auto other = read_system_uuid(path)) return *other;
    }
    throw Error(errno, path + ": cannot create the host identity file: " +
                           std::strerror(errno) + "; run as root or use --system-uuid-file");
  }
  ::fchmod(f.fd, 0444);
  if (::write(f.fd, text, sizeof text) != ssize_t(sizeof text) || ::fsync(f.fd) != 0) {
    int err = errno ? errno : EIO;
    ::unlink(path.c_str());
    throw Error(err, path + ": cannot write the host identity file: " + std::strerror(err));
  }
  Uuid out;
  std::memcpy(out.data(), u, 16);
  return out;
}

} // namespace famfs::dax
