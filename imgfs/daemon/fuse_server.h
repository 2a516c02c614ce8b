// Serves an ImageFs through the kernel with libfuse3's low-level API, on a pool of threads that
// all read the connection's one /dev/fuse descriptor (no cloned descriptors: a request read on a
// clone is lost when the clone closes with a crashed daemon, while the one descriptor is held by
// the supervisor, imgfs/daemon/supervisor.h). The only place <fuse_lowlevel.h> is included.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/fd.h"
#include "core/status.h"
#include "imgfs/daemon/fuse_takeover.h"
#include "imgfs/daemon/image_fs.h"

struct fuse_session;

namespace imgfs::daemon {

class FuseMount {
 public:
  // Mounts `fs` read-only at `mountpoint` (its source in mountinfo: `source`) and starts serving
  // it. `on_exit` runs on the serving thread when the session ends for any reason (Unmount or an
  // external umount).
  static Result<std::unique_ptr<FuseMount>> Start(ImageFs* fs, const std::string& mountpoint,
                                                  const std::string& source,
                                                  std::function<void()> on_exit);
  // Serves `fs` on a connection that an earlier daemon mounted at `mountpoint` and that already
  // went through FUSE_INIT with `init`: feeds the session a synthesized INIT, asks the kernel to
  // resend the requests the earlier daemon left unanswered (a warning where the kernel cannot,
  // fuse_takeover.h), then serves. Never touches the mount point. IOError when the connection is
  // gone (unmounted or aborted meanwhile).
  static Result<std::unique_ptr<FuseMount>> Adopt(ImageFs* fs, UniqueFd fuse_fd,
                                                  const std::string& mountpoint,
                                                  const std::string& source,
                                                  const FuseInitParams& init,
                                                  std::function<void()> on_exit);
  ~FuseMount();  // unmounts if still mounted and waits for the serving threads
  FuseMount(const FuseMount&) = delete;
  FuseMount& operator=(const FuseMount&) = delete;

  void Unmount();
  bool finished() const { return finished_.load(); }
  const std::string& mountpoint() const { return mountpoint_; }
  // The connection's /dev/fuse descriptor (owned by the session).
  int fuse_fd() const;
  // What FUSE_INIT negotiated, once the kernel's INIT was processed; Unavailable when it did not
  // come within `timeout` or the session ended first.
  Result<FuseInitParams> WaitForInit(std::chrono::milliseconds timeout);

 private:
  friend struct FuseCallbacks;
  FuseMount() = default;
  [[nodiscard]] Status NewSession(const std::string& source);
  [[nodiscard]] Status StartLoop();

  ImageFs* fs_ = nullptr;
  ::fuse_session* session_ = nullptr;
  bool adopted_ = false;  // mounted by an earlier daemon: unmounted by path, not by libfuse
  std::mutex init_mu_;
  std::condition_variable init_cv_;
  std::optional<FuseInitParams> init_;  // GUARDED_BY(init_mu_)
  std::string mountpoint_;
  std::thread loop_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> unmounted_{false};
  std::function<void()> on_exit_;
};

}  // namespace imgfs::daemon
