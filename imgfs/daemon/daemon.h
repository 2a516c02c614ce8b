// The imgfs daemon: one process per store, holding the store open, serving any number of mounts
// from one shared cache, and answering requests on a Unix socket (STORE/imgfs.sock) in a small
// HTTP/1.0 subset:
//   POST /mount   {"image","mountpoint","remote","ca_file","trace","trace_seconds"} -> {"digest"}
//   POST /umount  {"mountpoint"}
//   POST /cache   {"cache_size": BYTES}
//   GET  /stats   per-mount and cache counters as JSON
//   GET  /metrics Prometheus text exposition (curl --unix-socket STORE/imgfs.sock http://x/metrics)
//   POST /convert {"source","tag","platform",...} -> {"digest",...}
//   POST /rm      {"image"} -> {"removed": [names]}
//   POST /gc      -> counts
//   POST /repack  {"image","tag"} -> {"digest",...}
//                 (the last four: what `imgfs convert`, `rm`, `gc` and `repack` do while a daemon
//                 holds the store; imgfs/daemon/store_admin.h)
//   POST /shutdown
// Errors answer 4xx/5xx with {"error": "one line"}.
#pragma once

#include <optional>
#include <string>

#include "core/status.h"
#include "imgfs/daemon/mount_manager.h"

namespace imgfs {

struct DaemonOptions {
  std::string store_path;
  uint64_t cache_size = 0;           // 0: no limit
  bool exit_when_idle = false;       // exit once the last mount is gone
  std::optional<MountRequest> mount; // mounted before serving requests (imgfs mount -f)
  // Called once the socket is listening and the initial mount (if any) is up.
  std::function<void(const Result<Digest>&)> on_ready;
};

std::string DaemonSocketPath(const std::string& store_path);

// Runs until SIGINT/SIGTERM, POST /shutdown, or (exit_when_idle) the last unmount; then
// unmounts everything. Blocks SIGINT/SIGTERM/SIGHUP in the calling thread and those it starts.
Status RunDaemon(const DaemonOptions& options);

}  // namespace imgfs
