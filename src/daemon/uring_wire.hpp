// The FUSE-over-io_uring wire layouts (kernel 6.14+, FUSE protocol 7.42). Debian 12's
// linux-libc-dev (6.1) and libfuse 3.14 have none of them, so they are written here from the
// kernel's include/uapi/linux/fuse.h (6.14 to 6.18, which this machine runs; unchanged
// since 6.14) and checked with static_asserts against the sizes that ABI documents.
// Used by uring.cpp only; the classic /dev/fuse layouts are in wire.hpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "daemon/wire.hpp"

namespace famfs::daemon::wire {

// INIT flags2 bit 9, i.e. FUSE_OVER_IO_URING = 1ULL << 41: offered by the kernel only while
// the fuse module's enable_uring parameter is on; the reply sets it to ask for the ring.
inline constexpr uint32_t kFlags2OverIoUring = 1u << 9;
inline constexpr uint32_t kInitMaxPages = 1u << 22;      // FUSE_MAX_PAGES: max_pages is valid
inline constexpr uint32_t kDefaultMaxPages = 32;         // FUSE_DEFAULT_MAX_PAGES_PER_REQ
inline constexpr std::size_t kMinReadBuffer = 8192;      // FUSE_MIN_READ_BUFFER

// io_uring command codes (sqe->cmd_op of an IORING_OP_URING_CMD on the /dev/fuse fd).
inline constexpr uint32_t kUringCmdRegister = 1;       // FUSE_IO_URING_CMD_REGISTER
inline constexpr uint32_t kUringCmdCommitAndFetch = 2; // FUSE_IO_URING_CMD_COMMIT_AND_FETCH

inline constexpr std::size_t kUringInOutHeaderSize = 128; // FUSE_URING_IN_OUT_HEADER_SZ
inline constexpr std::size_t kUringOpInOutSize = 128;     // FUSE_URING_OP_IN_OUT_SZ
inline constexpr std::size_t kUringIovSegs = 2;           // header buffer + payload buffer
inline constexpr std::size_t kSqe128CmdArea = 80;         // sqe->cmd[] with IORING_SETUP_SQE128
inline constexpr std::size_t kSqe128Size = 128;           // one SQE of an IORING_SETUP_SQE128 ring

struct UringEntInOut {     // struct fuse_uring_ent_in_out
  uint64_t flags;
  uint64_t commit_id;      // kernel -> daemon: the id the COMMIT_AND_FETCH names
  uint32_t payload_sz;     // bytes of the payload buffer in use (either direction)
  uint32_t padding;
  uint64_t reserved;
};

// The header buffer of one ring entry (iov[0] of REGISTER).
struct UringReqHeader {    // struct fuse_uring_req_header
  unsigned char in_out[kUringInOutHeaderSize]; // fuse_in_header (request) / fuse_out_header (reply)
  unsigned char op_in[kUringOpInOutSize];      // the request's first argument (per-opcode header)
  UringEntInOut ring_ent_in_out;
};

// The command in the SQE128 command area.
struct UringCmdReq {       // struct fuse_uring_cmd_req
  uint64_t flags;
  uint64_t commit_id;      // 0 for REGISTER
  uint16_t qid;            // queue = CPU number
  uint8_t padding[6];
};

static_assert(sizeof(UringEntInOut) == 32);
static_assert(offsetof(UringEntInOut, commit_id) == 8);
static_assert(offsetof(UringEntInOut, payload_sz) == 16);
static_assert(sizeof(UringReqHeader) == 288);
static_assert(offsetof(UringReqHeader, op_in) == 128);
static_assert(offsetof(UringReqHeader, ring_ent_in_out) == 256);
static_assert(sizeof(UringCmdReq) == 24);
static_assert(offsetof(UringCmdReq, qid) == 16);
static_assert(sizeof(UringCmdReq) <= kSqe128CmdArea);
static_assert(sizeof(InHeader) <= kUringInOutHeaderSize);
static_assert(sizeof(OutHeader) <= kUringInOutHeaderSize);

} // namespace famfs::daemon::wire
