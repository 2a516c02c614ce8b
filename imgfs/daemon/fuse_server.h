// Serves an ImageFs through the kernel with libfuse3's low-level API, on a pool of threads.
// The only place <fuse_lowlevel.h> is included.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"
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
  ~FuseMount();  // unmounts if still mounted and waits for the serving threads
  FuseMount(const FuseMount&) = delete;
  FuseMount& operator=(const FuseMount&) = delete;

  void Unmount();
  bool finished() const { return finished_.load(); }
  const std::string& mountpoint() const { return mountpoint_; }

 private:
  FuseMount() = default;

  ::fuse_session* session_ = nullptr;
  std::string mountpoint_;
  std::thread loop_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> unmounted_{false};
  std::function<void()> on_exit_;
};

}  // namespace imgfs::daemon
