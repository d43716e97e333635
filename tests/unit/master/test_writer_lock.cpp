// master/writer_lock: the one writer lock per file system on a host.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>

#include "master/writer_lock.hpp"
#include "meta/error.hpp"

using namespace famfs;
using namespace famfs::master;
using namespace std::chrono_literals;

namespace {

struct TempRunDir {
  std::string path;
  TempRunDir() {
    char tmpl[] = "/tmp/wt-master-runXXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    path = tmpl;
    ::chmod(path.c_str(), 0755);
  }
  ~TempRunDir() { std::filesystem::remove_all(path); }
};

const char* kUuid = "0b3c2e9a-6a55-4a5f-9d7e-1f2a3b4c5d6e";

} // namespace

TEST_CASE("writer lock: private directory and file, keyed by the fs UUID", "[writer_lock]") {
  TempRunDir rd;
  WriterLock::Options o;
  o.run_dir = rd.path;
  WriterLock l = WriterLock::acquire(kUuid, o);
  CHECK(l.held());
  CHECK(l.path() == rd.path + "/" + kUuid + "/writer.lock");
  struct stat st{};
  REQUIRE(::stat((rd.path + "/" + kUuid).c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(::stat(l.path().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_uid == ::geteuid());
  // Held: another open file description cannot take it.
  int fd = ::open(l.path().c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  CHECK(::flock(fd, LOCK_EX | LOCK_NB) != 0);
  l = WriterLock();
  CHECK(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  ::close(fd);
}

TEST_CASE("writer lock: a second writer waits, says so, then gives up", "[writer_lock]") {
  TempRunDir rd;
  WriterLock::Options o;
  o.run_dir = rd.path;
  WriterLock first = WriterLock::acquire(kUuid, o);
  // The holder is another process, as for two commands.
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    first = WriterLock();
    int fd = ::open((rd.path + "/" + kUuid + "/writer.lock").c_str(), O_RDONLY);
    ::flock(fd, LOCK_EX);
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  first = WriterLock();
  char c;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  std::string said;
  o.timeout = 1500ms;
  o.on_wait = [&](const std::string& m) { said = m; };
  auto t0 = std::chrono::steady_clock::now();
  try {
    WriterLock::acquire(kUuid, o);
    FAIL("took a held lock");
  } catch (const Error& e) {
    CHECK(e.err() == ETIMEDOUT);
    CHECK_THAT(e.what(), Catch::Contains(std::string("writer lock of file system ") + kUuid) &&
                             Catch::Contains("held by pid " + std::to_string(child)) &&
                             Catch::Contains("FAMFS_LOCK_TIMEOUT_S"));
  }
  CHECK(std::chrono::steady_clock::now() - t0 >= 1500ms);
  CHECK(said == std::string("waiting for the writer lock of file system ") + kUuid +
                    " (held by pid " + std::to_string(child) + ")");
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  // Released with its holder.
  o.timeout = 0ms;
  CHECK(WriterLock::acquire(kUuid, o).held());
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST_CASE("writer lock: refuses a lock directory others can write", "[writer_lock]") {
  TempRunDir rd;
  std::string dir = rd.path + "/" + kUuid;
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  REQUIRE(::chmod(dir.c_str(), 0777) == 0);
  WriterLock::Options o;
  o.run_dir = rd.path;
  CHECK_THROWS_AS(WriterLock::acquire(kUuid, o), Error);
}

TEST_CASE("writer lock: FAMFS_LOCK_TIMEOUT_S", "[writer_lock]") {
  ::setenv(kLockTimeoutEnv, "2.5", 1);
  CHECK(lock_timeout_from_env() == 2500ms);
  ::setenv(kLockTimeoutEnv, "junk", 1);
  CHECK(lock_timeout_from_env() == kLockTimeoutDefault);
  ::setenv(kLockTimeoutEnv, "-1", 1);
  CHECK(lock_timeout_from_env() == kLockTimeoutDefault);
  ::unsetenv(kLockTimeoutEnv);
  CHECK(lock_timeout_from_env() == kLockTimeoutDefault);
}
