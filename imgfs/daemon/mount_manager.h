// The mounts one daemon serves. Every mount shares the daemon's local store and chunk cache
// (cross-image dedup on the node); each has its own remote, metrics, trace and FUSE session.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "imgfs/daemon/chunk_fetcher.h"
#include "imgfs/daemon/fuse_server.h"
#include "imgfs/daemon/image_fs.h"
#include "imgfs/daemon/supervisor.h"
#include "imgfs/local_store.h"
#include "imgfs/remote_store.h"

namespace imgfs::daemon {

struct MountRequest {
  static constexpr unsigned kMaxTraceSeconds = 86400;
  static constexpr unsigned kMaxPrefetchThreads = 64;
  static constexpr unsigned kMaxIdleUnmount = 30 * 86400;

  std::string image;              // a name in the local store, or an index digest
  std::string mountpoint;         // an existing directory, absolute
  std::string remote;             // URL of the remote store, or empty
  std::string ca_file;            // https remote: CAs to trust instead of the system's
  std::string trace = "off";      // off | record | replay
  unsigned trace_seconds = 30;    // recording window after mount: 1..kMaxTraceSeconds
  unsigned prefetch_threads = 8;  // trace replay: 1..kMaxPrefetchThreads
  // Seconds without a read after which the daemon drops the mount if nothing holds it (an
  // overlay over it, an open file, a process's cwd: the kernel refuses the unmount then);
  // nullopt: never (imgfs mount's default). `imgfs run --keep-warm` sets it.
  std::optional<unsigned> idle_unmount;

  // InvalidArgument for a missing field, a value out of its bounds or of the wrong type.
  static Result<MountRequest> FromJson(const nlohmann::json& j);
  nlohmann::json ToJson() const;
};

class MountManager {
 public:
  // SOURCE is every mount's source in mountinfo: "imgfs:" and the store's path, by which the
  // CLI finds the daemon serving a mount point (MountSource). REMOTE_OPTIONS are every mount's
  // remote settings (timeouts, retries); each mount counts its remote's retries in its metrics.
  // `link` (may be null: unsupervised) is told of every mount and given its FUSE descriptor, so
  // the mount outlives a crash of this process (imgfs/daemon/supervisor.h); it must outlive this.
  MountManager(store::LocalStore& store, ChunkFetcher& fetcher, std::string source = "imgfs",
               remote::RemoteOptions remote_options = {}, SupervisorLink* link = nullptr);
  ~MountManager();  // unmounts everything

  // Resolves the image (fetching its index from the remote by digest when the local store lacks
  // it, verified against the digest), mounts it, and starts prefetching a replayed trace. A
  // fetched index is written to the local store after the answer, on a thread of the mount
  // (joined when it stops); until then, mounts of the same image take it from memory and
  // MountedIndexes names it, but store commands (imgfs ls, rm, inspect) do not see it yet.
  // Returns the index digest. Mounts may run concurrently (each may wait on a remote for a
  // while): the mount point is reserved first, so a second mount of the same point fails at
  // once with AlreadyExists. A dead FUSE mount left at the point (a daemon that crashed) is
  // detached and replaced (imgfs/daemon/mount_point.h).
  // `image_config` (may be null) receives the image's OCI config, as /stats would give it.
  Result<Digest> Mount(const MountRequest& request, nlohmann::json* image_config = nullptr);
  // Serves a mount an earlier daemon made, handed over by the supervisor after that daemon died:
  // the image named by digest in the record, the FUSE connection taken over (no trace recorded
  // or replayed again). On failure the supervisor is told to let the connection go.
  Status Adopt(SupervisorLink::Handed handed);
  Status Unmount(const std::string& mountpoint);
  void UnmountAll();
  // Cleans up mounts whose FUSE session ended underneath (an external umount).
  void Reap();
  // Unmounts the mounts with an idle_unmount whose reads have not moved for that long and that
  // nothing holds (a plain umount, which the kernel refuses with EBUSY while an overlay, an open
  // file or a cwd is in it; such a mount is tried again after another idle period). Reap then
  // cleans them up. Called periodically by the daemon.
  void UnmountIdle();
  size_t size();
  // The index digests of the images mounted now, and of those fetched and not yet written.
  std::vector<Digest> MountedIndexes();
  // Waits (at most LIMIT) until every fetched index is written to the store: before a
  // hand-over to the next daemon, which would otherwise fetch them again.
  void FinishPublishing(std::chrono::milliseconds limit);

  nlohmann::json StatsJson();
  std::string Prometheus();

 private:
  struct Mounted;
  // REFETCHES counts index downloads that failed their digest and were made again. FETCHED is
  // set when the index came from the remote (and is not in the local store yet).
  Result<std::shared_ptr<const ImageIndex>> ResolveImage(const std::string& image,
                                                         remote::RemoteStore* remote,
                                                         std::atomic<uint64_t>* refetches,
                                                         bool* fetched);
  // Writes the index a mount fetched into the local store (a warning if that fails: the mount
  // serves from memory, and the next mount fetches it again), then DonePublishing.
  void PublishFetchedIndex(Mounted& m);
  // Takes INDEX out of publishing_ (unless another fetch of the same digest owns the entry).
  void DonePublishing(const std::shared_ptr<const ImageIndex>& index);
  // The mount's remote and image (index, image config), as Mount and Adopt share them.
  Status OpenImage(Mounted& m);
  // Tells the supervisor about a new mount (a warning when that fails: it still serves).
  void HoldConnection(Mounted& m);
  // Starts the mount's threads: the one that publishes a fetched index, the trace saver, and
  // the replay (which fetches the trace first, so the mount's answer does not wait for it).
  // Throws std::system_error when out of threads (the threads started are in m.workers).
  void StartWorkers(Mounted& m);
  // Fetches the trace and replays it with request.prefetch_threads threads; returns when done.
  void Replay(Mounted& m);
  void Stop(Mounted& m);

  store::LocalStore& store_;
  ChunkFetcher& fetcher_;
  const std::string source_;
  const remote::RemoteOptions remote_options_;
  SupervisorLink* const link_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Mounted>> mounts_;  // GUARDED_BY(mu_), by mountpoint
  std::set<std::string> pending_;  // GUARDED_BY(mu_): mount points being mounted now
  // Indexes fetched by a mount and not yet written to the local store.
  std::map<Digest, std::shared_ptr<const ImageIndex>> publishing_;  // GUARDED_BY(mu_)
  std::condition_variable published_cv_;                            // an entry left publishing_
  // Unmounted mounts whose threads may still be finishing a remote fetch; joined later so an
  // unmount never waits on the network.
  std::vector<std::thread> retiring_;  // GUARDED_BY(mu_)
};

}  // namespace imgfs::daemon
