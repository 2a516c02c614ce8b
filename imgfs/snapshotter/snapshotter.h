// containerd's snapshotter contract (snapshots.Snapshotter) for imgfs, without gRPC: ordinary
// overlay snapshots for every image, and remote snapshots for the layers of images imgfs serves
// lazily (image_catalog.h).
//
// On disk, under ROOT (STORE/snapshotter, 0700):
//   metadata.json        the snapshot table (snapshot_table.h), rewritten before each answer
//   snapshots/ID/fs      a snapshot's directory (the upper dir while active)
//   snapshots/ID/work    overlay's work dir
// A remote snapshot's fs stays empty: its content is the image, mounted read-only and lazily by
// the store's daemon at STORE/mounts/KEY (the same mount point `imgfs run` uses for that index
// and remote, so both share one mount). Mounts of an active or view snapshot are what containerd
// mounts itself:
//   no parent               bind of fs (rw, or ro for a view)
//   active, parents         overlay: upperdir=fs, workdir=work, lowerdir=the parents' fs dirs,
//                           nearest first, ending at the first remote ancestor's image mount
//   view, one lower         bind ro of that lower; more: overlay with lowerdirs only
// The image of a remote ancestor is mounted (through the daemon) when Prepare, View or Mounts
// names a snapshot above it; the mount starts earlier, on a thread of its own, as soon as the
// image's top layer is recorded as a remote snapshot (the pull), so the index, the mount and
// the start of its trace replay overlap the pod sandbox and the container's creation, and the
// container's Prepare waits only for what is left of it; with the store's keep-warm policy
// (ImageMounter): the daemon drops the mount once it has been idle that long and nothing uses it
// (no overlay on it, no open file, no cwd in it). Remove never unmounts an image itself: the same
// mount may serve `imgfs run` containers and other snapshots, and the daemon is the one that knows.
//
// Crash safety: a directory is created before its record is saved and deleted after its record
// is gone; Cleanup deletes directories that no record names. Restarting the snapshotter loses
// nothing: containers' mounts belong to containerd and the daemon, not to this process.
//
// Thread-safe. One mutex guards the table and the directories; it is never held across a slow
// call: the catalog's look-up (which may ask a registry) and the image mount through the daemon
// (which may fetch an index) run without it, so Stat, List, Commit and other Prepares go on
// meanwhile. The table stays consistent: a remote Prepare checks again under the mutex before
// it records (a concurrent Prepare of the same layer makes one of them AlreadyExists, the
// answer containerd expects); a Prepare whose image mount fails removes the record it made.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "imgfs/snapshotter/image_catalog.h"
#include "imgfs/snapshotter/snapshot_table.h"

namespace imgfs::snapshotter {

struct Mount {
  std::string type;    // "bind" or "overlay"
  std::string source;  // a directory, or "overlay"
  std::vector<std::string> options;
};

// Mounts imgfs images through the store's daemon (the CLI's DaemonMounter). The mounter, not the
// snapshotter, chooses the mount's idle policy (the store's keep-warm), so the daemon unmounts
// what nobody uses. May be called from several threads at once.
class ImageMounter {
 public:
  virtual ~ImageMounter() = default;
  // Makes INDEX (chunks from REMOTE) mounted at MOUNTPOINT, an existing directory; nothing to do
  // when the store's daemon already serves it there.
  [[nodiscard]] virtual Status Mount(const std::string& index, const std::string& remote,
                                     const std::string& mountpoint) = 0;
};

struct Usage {
  int64_t size = 0;    // bytes allocated (blocks), hard links counted once
  int64_t inodes = 0;  // files, directories and links
};

class Snapshotter {
 public:
  // ROOT: the snapshotter's directory (created 0700); MOUNTS_DIR: where image mounts go
  // (STORE/mounts). CATALOG and MOUNTER must outlive the snapshotter. NOW: wall-clock
  // nanoseconds since the epoch (tests pass a fixed one).
  [[nodiscard]] static Result<std::unique_ptr<Snapshotter>> Open(
      const std::string& root, const std::string& mounts_dir, ImageCatalog* catalog,
      ImageMounter* mounter, std::function<int64_t()> now = nullptr);
  // Waits for the mounts started ahead (their threads).
  ~Snapshotter();

  // A new active snapshot on PARENT. With the snapshot.ref label naming a layer the catalog
  // serves lazily: records a committed remote snapshot under that name and answers
  // AlreadyExists (containerd then skips the layer's download and unpack).
  [[nodiscard]] Result<std::vector<Mount>> Prepare(const std::string& key,
                                                   const std::string& parent, const Labels& labels);
  [[nodiscard]] Result<std::vector<Mount>> View(const std::string& key, const std::string& parent,
                                                const Labels& labels);
  [[nodiscard]] Result<std::vector<Mount>> Mounts(const std::string& key);
  [[nodiscard]] Status Commit(const std::string& name, const std::string& key,
                              const Labels& labels);
  [[nodiscard]] Status Remove(const std::string& key);
  [[nodiscard]] Result<SnapshotInfo> Stat(const std::string& key);
  [[nodiscard]] Result<SnapshotInfo> Update(const SnapshotInfo& info,
                                            const std::vector<std::string>& fields);
  [[nodiscard]] Result<Usage> GetUsage(const std::string& key);
  // The snapshots that match FILTERS (containerd's syntax, snapshot_filter.h; none: all).
  // InvalidArgument for a filter that does not parse.
  [[nodiscard]] Result<std::vector<SnapshotInfo>> List(
      const std::vector<std::string>& filters = {});
  // Deletes the directories no snapshot owns (left by a crash between the two steps above).
  [[nodiscard]] Status Cleanup();

  // Where the image of a remote layer is mounted.
  std::string ImageMountPoint(const RemoteLayer& remote) const;

 private:
  Snapshotter(std::string root, std::string mounts_dir, SnapshotTable table, ImageCatalog* catalog,
              ImageMounter* mounter, std::function<int64_t()> now);
  // The mounts of a snapshot, and the image (if any) that must be mounted first.
  struct MountPlan {
    std::vector<Mount> mounts;
    std::optional<RemoteLayer> image;
  };
  Result<std::vector<Mount>> Create(const std::string& key, const std::string& parent, Kind kind,
                                    const Labels& labels);
  // Records NAME as a remote snapshot when the catalog serves it: then AlreadyExists (as also
  // when NAME exists already); Ok when the catalog does not serve it (an ordinary unpack
  // follows). REQUIRES: mu_ not held (it asks the catalog).
  Status CreateRemoteIfServed(const std::string& name, const std::string& parent,
                              const Labels& labels);
  // REQUIRES: mu_ held.
  Result<MountPlan> PlanMounts(const SnapshotInfo& s);
  // Mounts PLAN's image, after waiting for a mount of it started ahead. REQUIRES: mu_ not held
  // (it waits on the daemon).
  Status MountImage(const MountPlan& plan);
  Status MountNow(const RemoteLayer& image);
  // Starts mounting the image of REMOTE, its top layer, on a thread; nothing when one is under
  // way. Its result only informs: MountImage mounts again when it failed.
  void MountAhead(const RemoteLayer& remote);
  std::string Dir(uint64_t id) const;

  const std::string root_;
  const std::string mounts_dir_;
  ImageCatalog* const catalog_;
  ImageMounter* const mounter_;
  const std::function<int64_t()> now_;
  std::mutex mu_;
  SnapshotTable table_;  // GUARDED_BY(mu_)
  std::mutex ahead_mu_;  // never held across a mount
  // Mount points being mounted ahead, until done.
  std::map<std::string, std::shared_future<Status>> ahead_;  // GUARDED_BY(ahead_mu_)
  struct AheadThread {
    std::thread thread;
    std::shared_future<Status> result;  // ready: the thread is ending, joined at the next mount
  };
  std::vector<AheadThread> ahead_threads_;  // GUARDED_BY(ahead_mu_)
};

// Sums the blocks and counts the inodes of the tree at PATH (not crossing mounts, links not
// followed, hard links once).
[[nodiscard]] Result<Usage> DiskUsage(const std::string& path);

}  // namespace imgfs::snapshotter
