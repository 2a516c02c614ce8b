// The imgfs daemon: one process per store, holding the store open, serving any number of mounts
// from one shared cache, and answering requests on a Unix socket (STORE/imgfs.sock) in a small
// HTTP/1.0 subset (imgfs/daemon/control_server.h: who may connect, concurrency, time limits):
//   POST /mount   {"image","mountpoint","remote","ca_file","trace","trace_seconds",
//                  "prefetch_threads"} -> {"digest"}
//   POST /umount  {"mountpoint"}
//   POST /cache   {"cache_size": BYTES}
//   GET  /stats   per-mount and cache counters as JSON; "daemon": its pid, whether it is
//                 supervised and how often its supervisor restarted it
//   GET  /metrics Prometheus text exposition (curl --unix-socket STORE/imgfs.sock http://x/metrics)
//   POST /convert {"source","tag","platform","threads","chunk_min","chunk_avg","chunk_max",
//                  "plain_http","tls_skip_verify"}  (the last two 0/1, for docker:// sources)
//                 -> {"digest",...}
//   POST /rm      {"image"} -> {"removed": [names]}
//   POST /gc      -> counts
//   POST /repack  {"image","tag"} -> {"digest",...}
//                 (the last four: what `imgfs convert`, `rm`, `gc` and `repack` do while a daemon
//                 holds the store; imgfs/daemon/store_admin.h)
//   POST /upgrade the daemon exits and its supervisor starts the binary installed now, which
//                 takes the mounts over (as after a crash); 400 when unsupervised
//   POST /shutdown
// Numbers are checked against their bounds: trace_seconds 1..86400, prefetch_threads 1..64,
// cache_size 0..kMaxCacheSize (0: no limit), convert's in CheckConvertOptions (store_admin.h).
// Errors answer 4xx/5xx with {"error": "one line"}: 400 bad request, 403 not root or the
// store's owner, 404 unknown request or image, 408 request not sent in time, 409 mount point
// taken, 413 request too large, 503 too busy.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/status.h"
#include "imgfs/daemon/mount_manager.h"

namespace imgfs::daemon {

inline constexpr uint64_t kMaxCacheSize = uint64_t{1} << 60;
inline constexpr unsigned kMaxRemoteTimeoutSeconds = 3600;
// A trace replay decodes ahead of the program into this memory; torch's start-up set is ~340 MB
// and 64 MiB let the replay evict what the program had yet to read (docs/BENCHMARKS.md).
inline constexpr uint64_t kDefaultMemoryCache = uint64_t{256} << 20;
inline constexpr uint64_t kMinMemoryCache = uint64_t{1} << 20;

struct DaemonOptions {
  std::string store_path;
  uint64_t cache_size = 0;  // 0: no limit; at most kMaxCacheSize
  // Decoded chunks kept in memory (FetcherOptions::memory_cache_bytes); kMinMemoryCache at least.
  uint64_t memory_cache = kDefaultMemoryCache;
  // The longest one read waits on a remote: no remote call starts for a read after this, and
  // each call (retries included) ends by it, so a read of data the node lacks fails with EIO
  // within it when the remote is gone or hangs. 1 s..kMaxRemoteTimeoutSeconds.
  std::chrono::milliseconds remote_timeout{30000};
  // Exit once no mount is left and no request is in flight, after the first mount request has
  // been answered (failed or not) or, when none comes, a minute after start.
  bool exit_when_idle = false;
  std::optional<MountRequest> mount;  // mounted before serving requests (imgfs mount -f)
  // HOST:PORT of a read-only Prometheus endpoint (GET /metrics over TCP); "" for none.
  std::string metrics_address;
  // The worker's end of the socketpair to its supervisor (imgfs/daemon/supervisor.h), or -1:
  // unsupervised, a crash leaves the mounts dead. Taken over.
  int supervisor_fd = -1;
  // Called once the socket is listening and the initial mount (if any) is up.
  std::function<void(const Result<Digest>&)> on_ready;
};

std::string DaemonSocketPath(const std::string& store_path);

// Makes the store private (imgfs/daemon/store_dir.h), takes over the mounts a supervisor hands
// it (those of a daemon that died), then runs until SIGINT/SIGTERM, POST /shutdown, or
// (exit_when_idle) idleness; then unmounts everything. Blocks SIGINT/SIGTERM/SIGHUP
// in the calling thread and those it starts.
Status RunDaemon(const DaemonOptions& options);

}  // namespace imgfs::daemon
