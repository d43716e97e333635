// The SIGBUS guard of device_guard.hpp. The handler does only async-signal-safe work: atomics
// and mmap(2) (a system call).
#include "daemon/device_guard.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

namespace famfs::daemon {

namespace {

// The registered mapping: a signal handler can only reach state at namespace scope.
struct Guarded {
  std::atomic<std::uintptr_t> base{0};
  std::atomic<std::size_t> len{0};
  std::atomic<uint64_t> replaced{0};
  std::size_t page = 0; // sysconf(_SC_PAGESIZE), set by install()
};
Guarded g_guarded;

void on_sigbus(int sig, siginfo_t* si, void*) {
  const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(si->si_addr);
  const std::uintptr_t base = g_guarded.base.load();
  if (a >= base && a < base + g_guarded.len.load()) {
    void* page = reinterpret_cast<void*>(a & ~(g_guarded.page - 1));
    if (::mmap(page, g_guarded.page, PROT_READ | PROT_WRITE,
               MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
      g_guarded.replaced.fetch_add(1);
      return; // the faulting access runs again, on zeros
    }
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

} // namespace

void DeviceGuard::install(std::byte* base, std::size_t len) {
  g_guarded.page = std::size_t(::sysconf(_SC_PAGESIZE));
  g_guarded.base = reinterpret_cast<std::uintptr_t>(base);
  g_guarded.len = len;
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, nullptr);
}

uint64_t DeviceGuard::pages_replaced() { return g_guarded.replaced.load(); }

} // namespace famfs::daemon
