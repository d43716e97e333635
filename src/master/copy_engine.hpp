// The data path of the master: file bytes straight into the device mapping, made durable
// (flush + fence) before the file's log entry is appended.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "master/events.hpp"
#include "meta/fmap.hpp"

namespace famfs::master {

enum class CopyMethod {
  Auto,        // NonTemporal for files of 1 MiB and more, else Read
  Read,        // pread() into the mapping, then flush
  Memcpy,      // mmap the source, memcpy, flush
  NonTemporal, // mmap the source, streaming stores (dax::stream_store)
};
CopyMethod copy_method_from_env(); // $FAMFS_CP_METHOD = read|memcpy|nt (benchmarks); else Auto

// Copy `size` bytes of the open source `fd` into the file's device ranges (`fmap` over the
// device mapping `dev`), then make them durable. `progress` may be null. Throws famfs::Error
// naming `src_name` on a read error or a short file. `threads` > 1 copies the pieces of one
// large file in parallel. $FAMFS_CP_PREFETCH=1 faults pieces in ahead on a helper thread;
// $FAMFS_CP_DEBUG prints timings.
void copy_fd_to_fmap(std::span<std::byte> dev, const Fmap& fmap, int fd, uint64_t size,
                     const std::string& src_name, ProgressSink* progress, CopyMethod method,
                     unsigned threads = 1);

// Fill the file's device ranges with the B§8.5 stream for `seed`, then flush.
void random_fill_fmap(std::span<std::byte> dev, const Fmap& fmap, uint64_t size, uint64_t seed,
                      ProgressSink* progress);

// Zero [size, end of its 4 KiB page) so a mapped last page shows zeros past EOF.
void zero_tail(std::span<std::byte> dev, const Fmap& fmap, uint64_t size);

// Run fn(i) for i in [0, n) on `threads` workers (1 = inline).
void parallel_for(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& fn);

} // namespace famfs::master
