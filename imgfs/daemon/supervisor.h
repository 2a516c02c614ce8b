// The daemon's supervisor: a small parent process that keeps every FUSE connection of the daemon
// open while the daemon itself dies and comes back (docs/operations.md, "Daemon crash and
// restart"; docs/architecture.md).
//
//   imgfs daemon ...                  the supervisor: no store, no threads, no FUSE requests
//     └─ imgfs daemon --supervised-by FD ...   the worker: RunDaemon, everything else
//
// After each mount the worker sends the supervisor a duplicate of the mount's /dev/fuse
// descriptor with a record of the mount (the request with the image pinned to its index digest,
// and what FUSE_INIT negotiated), and tells it when the mount goes. Because the supervisor holds
// the same open file, the kernel keeps the connection, and the requests the worker had read but
// not answered, when the worker dies. The supervisor then starts a new worker and hands it every
// held descriptor with its record; the worker rebuilds each mount from the store and takes the
// connection over (imgfs/daemon/fuse_takeover.h).
//
// Protocol: JSON text datagrams on a SOCK_SEQPACKET socketpair (imgfs/daemon/fd_message.h).
//   supervisor -> worker, at its start:  {"op":"take","id":N,"record":{...}} + fd, one per held
//                                        mount, then {"op":"ready","restarts":R,"next_id":M,
//                                        "upgrade":B}
//                                        ({"op":"listener"} + fd first, when it holds one)
//   worker -> supervisor:                {"op":"listener"} + fd  (the control socket, kept so
//                                        that clients queue while the worker restarts)
//                                        {"op":"hold","id":N,"record":{...}} + fd
//                                        {"op":"release","id":N}
//                                        {"op":"exit"}  (exiting on purpose: so does the
//                                        supervisor)
//                                        {"op":"restart"}  (a planned hand-over: start the
//                                        binary found at the supervisor's path now, imgfs daemon
//                                        --upgrade; not counted as a crash)
//
// An upgrade runs the old supervisor with the new worker: this protocol must stay compatible.
//
// The supervisor restarts a worker that was killed by a signal, or that exited without saying
// "exit" while mounts were held; at most `max_restarts` times within `restart_window`, after
// which it gives up and exits, closing the descriptors (the mounts then fail with ENOTCONN and
// the next `imgfs mount` of the point replaces them, imgfs/daemon/mount_point.h). SIGTERM,
// SIGINT and SIGHUP are passed on to the worker, and the supervisor exits with it.
// If the supervisor dies, the worker keeps serving; only its own crash is then fatal to mounts.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/fd.h"
#include "core/status.h"

namespace imgfs::daemon {

inline constexpr char kSupervisedByFlag[] = "--supervised-by";
// The bound of SupervisorOptions::max_restarts (config daemon.max_restarts).
inline constexpr unsigned kMaxDaemonRestarts = 1000;

struct SupervisorOptions {
  // The worker's command line (argv[0] first); "--supervised-by FD" is inserted after its first
  // two words ("imgfs daemon"). The first worker runs /proc/self/exe; see RunSupervisor.
  std::vector<std::string> worker_args;
  // A pipe the first worker writes one byte to once it listens (`imgfs mount` waits on it):
  // passed to the first worker only, as "--ready-fd N". -1: none. Taken over (closed).
  int ready_fd = -1;
  // Crashes tolerated within `restart_window`; one more and the supervisor gives up. 0: a crash
  // is never survived. Planned hand-overs (upgrades) do not count.
  unsigned max_restarts = 5;
  std::chrono::seconds restart_window{60};
};

// Runs the supervisor until the worker exits on purpose or gives up; returns the process's exit
// code (the worker's, or 1). Blocks SIGCHLD, SIGTERM, SIGINT and SIGHUP in the calling thread,
// which must be the process's only one.
int RunSupervisor(SupervisorOptions options);

// The worker's end of the protocol. Thread-safe.
class SupervisorLink {
 public:
  struct Handed {
    uint64_t id = 0;
    nlohmann::json record;
    UniqueFd fuse_fd;
  };
  // Takes `fd` (the worker's end of the socketpair) and reads what the supervisor hands over,
  // up to its "ready" message.
  [[nodiscard]] static Result<std::unique_ptr<SupervisorLink>> Connect(int fd);

  // The mounts handed over at start (once; later calls get nothing).
  std::vector<Handed> TakeHanded();
  // The control socket an earlier worker listened on, if the supervisor kept one (once).
  UniqueFd TakeListener();
  // Has the supervisor keep a duplicate of the listening control socket for the next worker.
  void HoldListener(int fd);
  // How many times the supervisor restarted a worker before this one.
  unsigned restarts() const { return restarts_; }
  // Whether the worker before this one handed over on purpose (an upgrade), not crashed.
  bool upgrade() const { return upgrade_; }
  // Has the supervisor hold a duplicate of `fuse_fd` for the mount `record` describes; returns
  // the id to release it by. An error means the mount will not survive a crash of this process.
  [[nodiscard]] Result<uint64_t> Hold(const nlohmann::json& record, int fuse_fd);
  void Release(uint64_t id);
  // This process exits on purpose; the supervisor exits after it rather than restart it.
  void AnnounceExit();
  // This process exits to be replaced by the binary now installed at the supervisor's path,
  // keeping the mounts; Unavailable when the supervisor cannot be told.
  [[nodiscard]] Status RequestRestart();

 private:
  explicit SupervisorLink(UniqueFd sock) : sock_(std::move(sock)) {}

  UniqueFd sock_;
  std::mutex mu_;               // one sender at a time; next_id_
  uint64_t next_id_ = 1;        // GUARDED_BY(mu_)
  unsigned restarts_ = 0;       // set by Connect
  bool upgrade_ = false;        // set by Connect
  std::vector<Handed> handed_;  // GUARDED_BY(mu_) after Connect
  UniqueFd listener_;           // GUARDED_BY(mu_) after Connect
};

}  // namespace imgfs::daemon
