// Taking over a live FUSE connection in a new server process (the daemon restarted after a
// crash; docs/operations.md, "Daemon crash and restart"). The raw /dev/fuse protocol pieces that
// libfuse 3.14 does not offer; no libfuse here (only the kernel's <linux/fuse.h> ABI).
//
// The kernel sends FUSE_INIT once per connection, and libfuse answers every request with EIO
// until its session has processed one. A server taking a connection over therefore feeds its
// fresh session a synthesized INIT that carries what the first server was told
// (FuseInitParams), so libfuse rebuilds the same state (protocol minor, capabilities, buffer
// size). libfuse's reply to it names a request the kernel does not know; the kernel refuses the
// write with ENOENT, which libfuse ignores. Then FUSE_NOTIFY_RESEND (Linux 6.9+) puts every
// request the dead server had read and not answered back in the queue, marked with bit 63 of
// their unique id, which the new server echoes like any other.
//
// Thread-safety: free functions without state.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace imgfs::daemon {

// What the kernel offered at FUSE_INIT, in our own terms (libfuse's and the kernel's flag names
// clash; fuse_server.cc translates from libfuse's, fuse_takeover.cc to the kernel's).
struct FuseInitParams {
  enum Feature : uint32_t {
    kAsyncRead = 1u << 0,
    kReaddirplus = 1u << 1,
    kReaddirplusAuto = 1u << 2,
    kCacheSymlinks = 1u << 3,
    kNoOpendirSupport = 1u << 4,
    kParallelDirops = 1u << 5,
    kAutoInvalData = 1u << 6,
    kAsyncDio = 1u << 7,
    kAtomicOTrunc = 1u << 8,
    kExportSupport = 1u << 9,
    kDontMask = 1u << 10,
    kPosixLocks = 1u << 11,
    kFlockLocks = 1u << 12,
    kExplicitInvalData = 1u << 13,
    kNoOpenSupport = 1u << 14,
  };
  uint32_t proto_major = 0;
  uint32_t proto_minor = 0;
  uint32_t max_readahead = 0;
  uint32_t features = 0;  // Feature bits

  nlohmann::json ToJson() const;
  // InvalidArgument unless a 7.x protocol with a minor of at least 12 is described.
  [[nodiscard]] static Result<FuseInitParams> FromJson(const nlohmann::json& j);
};

// The bytes of a FUSE_INIT request as the kernel sends it (fuse_in_header + fuse_init_in),
// carrying `params` and the largest request size (FUSE_MAX_PAGES). Its unique id is one the
// kernel never hands out (kSynthesizedInitUnique), so the reply to it goes nowhere.
inline constexpr uint64_t kSynthesizedInitUnique = uint64_t{1} << 62;
std::string SynthesizedInitRequest(const FuseInitParams& params);

// Writes FUSE_NOTIFY_RESEND to `fuse_fd`: the kernel queues again every request read from the
// connection and not answered. Unimplemented when the kernel does not know the notification
// (before Linux 6.9: EINVAL); IOError naming errno otherwise (ENODEV: the connection is gone).
[[nodiscard]] Status RequestResend(int fuse_fd);

}  // namespace imgfs::daemon
