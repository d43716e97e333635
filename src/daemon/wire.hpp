// The few FUSE wire structures famfs-fused looks at itself (libfuse 3.14 ships no
// fuse_kernel.h). Layouts follow the kernel's include/uapi/linux/fuse.h, protocol 7.36+.
// Used only for what libfuse 3.14 cannot express: FUSE_DIRECT_IO_ALLOW_MMAP in the INIT reply
// and FOPEN_PARALLEL_DIRECT_WRITES in OPEN replies.
#pragma once

#include <cstddef>
#include <cstdint>

namespace famfs::daemon::wire {

inline constexpr uint32_t kOpInit = 26;                 // FUSE_INIT
inline constexpr uint32_t kInitExt = 1u << 30;          // FUSE_INIT_EXT: flags2 is valid
inline constexpr uint32_t kFlags2DirectIoAllowMmap = 1u << 4; // bit 36: FUSE_DIRECT_IO_ALLOW_MMAP
inline constexpr uint32_t kMinorDirectIoAllowMmap = 39;  // protocol minor that introduced it
inline constexpr std::size_t kInitInMinSize = 16;        // fuse_init_in before 7.36
inline constexpr uint32_t kOpenParallelDirectWrites = 1u << 6; // FOPEN_PARALLEL_DIRECT_WRITES
inline constexpr uint32_t kMinorParallelDirectWrites = 36; // protocol minor that introduced it

struct InHeader {          // struct fuse_in_header
  uint32_t len;
  uint32_t opcode;
  uint64_t unique;
  uint64_t nodeid;
  uint32_t uid;
  uint32_t gid;
  uint32_t pid;
  uint16_t total_extlen;
  uint16_t padding;
};

struct OutHeader {         // struct fuse_out_header
  uint32_t len;
  int32_t error;
  uint64_t unique;
};

struct InitIn {            // struct fuse_init_in (7.36+; older kernels send only 16 bytes)
  uint32_t major;
  uint32_t minor;
  uint32_t max_readahead;
  uint32_t flags;
  uint32_t flags2;
  uint32_t unused[11];
};

struct InitOut {           // struct fuse_init_out (7.36+)
  uint32_t major;
  uint32_t minor;
  uint32_t max_readahead;
  uint32_t flags;
  uint16_t max_background;
  uint16_t congestion_threshold;
  uint32_t max_write;
  uint32_t time_gran;
  uint16_t max_pages;
  uint16_t map_alignment;
  uint32_t flags2;
  uint32_t unused[7];
};

struct OpenOut {           // struct fuse_open_out
  uint64_t fh;
  uint32_t open_flags;
  int32_t backing_id;      // 7.40 (padding before)
};

static_assert(sizeof(InHeader) == 40);
static_assert(sizeof(OpenOut) == 16);
static_assert(offsetof(OpenOut, open_flags) == 8);
static_assert(sizeof(OutHeader) == 16);
static_assert(sizeof(InitIn) == 64);
static_assert(offsetof(InitIn, flags2) == kInitInMinSize);
static_assert(offsetof(InitIn, flags) == 12);
static_assert(offsetof(InitIn, flags2) == 16);
static_assert(sizeof(InitOut) == 64);
static_assert(offsetof(InitOut, flags) == 12);
static_assert(offsetof(InitOut, max_write) == 20);
static_assert(offsetof(InitOut, max_pages) == 28);
static_assert(offsetof(InitOut, flags2) == 32);

} // namespace famfs::daemon::wire
