#include "imgfs/snapshotter/snapshotter.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include "core/digest.h"
#include "core/log.h"
#include "imgfs/snapshotter/snapshot_filter.h"

namespace imgfs::snapshotter {

namespace fs = std::filesystem;

namespace {

Status MakeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
    return Status::FromErrno(errno, "mkdir " + path);
  return Status::Ok();
}

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return Status::FromErrno(ec.value(), "remove " + path);
  return Status::Ok();
}

int64_t WallClockNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<Usage> DiskUsage(const std::string& path) {
  struct stat root;
  if (::lstat(path.c_str(), &root) != 0) return Status::FromErrno(errno, "stat " + path);
  Usage usage{static_cast<int64_t>(root.st_blocks) * 512, 1};
  std::set<std::pair<dev_t, ino_t>> linked;
  std::error_code ec;
  fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec);
  if (ec) return Status::FromErrno(ec.value(), "read " + path);
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return Status::FromErrno(ec.value(), "walk " + path);
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0) continue;  // gone meanwhile
    if (S_ISDIR(st.st_mode) && st.st_dev != root.st_dev) {
      it.disable_recursion_pending();  // another filesystem mounted inside
      continue;
    }
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && !linked.emplace(st.st_dev, st.st_ino).second)
      continue;
    usage.size += static_cast<int64_t>(st.st_blocks) * 512;
    ++usage.inodes;
  }
  if (ec) return Status::FromErrno(ec.value(), "walk " + path);
  return usage;
}

Snapshotter::Snapshotter(std::string root, std::string mounts_dir, SnapshotTable table,
                         ImageCatalog* catalog, ImageMounter* mounter, std::function<int64_t()> now)
    : root_(std::move(root)),
      mounts_dir_(std::move(mounts_dir)),
      catalog_(catalog),
      mounter_(mounter),
      now_(now ? std::move(now) : WallClockNs),
      table_(std::move(table)) {}

Result<std::unique_ptr<Snapshotter>> Snapshotter::Open(const std::string& root,
                                                       const std::string& mounts_dir,
                                                       ImageCatalog* catalog, ImageMounter* mounter,
                                                       std::function<int64_t()> now) {
  if (root.empty() || root[0] != '/' || root.find_first_of(",:") != std::string::npos ||
      mounts_dir.find_first_of(",:") != std::string::npos)
    return Status::InvalidArgument("snapshotter root " + root +
                                   " must be absolute, without ',' or ':' (overlay options)");
  RETURN_IF_ERROR(MakeDir(root, 0700));
  if (::chmod(root.c_str(), 0700) != 0) return Status::FromErrno(errno, "chmod " + root);
  RETURN_IF_ERROR(MakeDir(root + "/snapshots", 0700));
  ASSIGN_OR_RETURN(SnapshotTable table, SnapshotTable::Load(root + "/metadata.json"));
  return std::unique_ptr<Snapshotter>(
      new Snapshotter(root, mounts_dir, std::move(table), catalog, mounter, std::move(now)));
}

std::string Snapshotter::Dir(uint64_t id) const {
  return root_ + "/snapshots/" + std::to_string(id);
}

std::string Snapshotter::ImageMountPoint(const RemoteLayer& remote) const {
  // The key `imgfs run` gives the mount of an image named by its index digest.
  return mounts_dir_ + "/" + Sha256(remote.index + "\n" + remote.remote).Hex().substr(0, 16);
}

Result<std::vector<Mount>> Snapshotter::Prepare(const std::string& key, const std::string& parent,
                                                const Labels& labels) {
  return Create(key, parent, Kind::kActive, labels);
}

Result<std::vector<Mount>> Snapshotter::View(const std::string& key, const std::string& parent,
                                             const Labels& labels) {
  return Create(key, parent, Kind::kView, labels);
}

Status Snapshotter::CreateRemoteIfServed(const std::string& name, const std::string& parent,
                                         const Labels& labels) {
  {
    std::lock_guard lock(mu_);
    if (table_.Get(name).ok())
      return Status::AlreadyExists("target snapshot " + name + " already exists");
  }
  // The catalog may ask a registry: without the mutex.
  ASSIGN_OR_RETURN(std::optional<RemoteLayer> remote, catalog_->Find(name, labels));
  if (!remote) return Status::Ok();
  std::lock_guard lock(mu_);
  // Another Prepare of the same layer may have recorded it meanwhile: the table decides.
  Result<SnapshotInfo> s = table_.CreateRemote(name, parent, labels, *remote, now_());
  if (!s.ok()) return s.status();
  IMGFS_LOG(Info) << "snapshot " << name << ": layer " << remote->layers << " of " << remote->total
                  << " of imgfs image " << remote->index << ", lazily";
  if (remote->layers == remote->total) MountAhead(*remote);
  return Status::AlreadyExists("target snapshot " + name + " is served lazily by imgfs");
}

Result<std::vector<Mount>> Snapshotter::Create(const std::string& key, const std::string& parent,
                                               Kind kind, const Labels& labels) {
  auto target = labels.find(kSnapshotRefLabel);
  if (kind == Kind::kActive && target != labels.end() && catalog_)
    RETURN_IF_ERROR(CreateRemoteIfServed(target->second, parent, labels));
  MountPlan plan;
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    if (!parent.empty()) {
      // Only a whole image can be a lower layer: a snapshot on layer k of n would lack the rest.
      ASSIGN_OR_RETURN(SnapshotInfo p, table_.Get(parent));
      if (p.remote && p.remote->layers != p.remote->total)
        return Status::InvalidArgument("parent " + parent + " is layer " +
                                       std::to_string(p.remote->layers) + " of " +
                                       std::to_string(p.remote->total) + " of imgfs image " +
                                       p.remote->index + ", which is only served whole");
    }
    // The directory exists before the record that names it (Cleanup removes one left alone).
    RETURN_IF_ERROR(table_.CheckCreate(key, parent, labels));
    const std::string dir = Dir(table_.next_id());
    Status made = MakeDir(dir, 0755);
    if (made.ok()) made = MakeDir(dir + "/fs", 0755);
    if (made.ok() && kind == Kind::kActive) made = MakeDir(dir + "/work", 0700);
    Result<SnapshotInfo> s =
        made.ok() ? table_.Create(key, parent, kind, labels, now_()) : Result<SnapshotInfo>(made);
    Result<MountPlan> planned = s.ok() ? PlanMounts(*s) : Result<MountPlan>(s.status());
    if (!planned.ok()) {
      if (s.ok()) (void)table_.Remove(key);
      (void)RemoveTree(dir);
      return planned.status();
    }
    plan = std::move(*planned);
    id = s->id;
  }
  Status mounted = MountImage(plan);
  if (mounted.ok()) return std::move(plan.mounts);
  // Undo, unless someone removed or replaced the record meanwhile.
  std::lock_guard lock(mu_);
  Result<SnapshotInfo> s = table_.Get(key);
  if (s.ok() && s->id == id && !table_.HasChildren(key) && table_.Remove(key).ok())
    (void)RemoveTree(Dir(id));
  return mounted;
}

Result<Snapshotter::MountPlan> Snapshotter::PlanMounts(const SnapshotInfo& s) {
  if (s.kind == Kind::kCommitted)
    return Status::InvalidArgument("snapshot " + s.name + " is committed: it has no mounts");
  ASSIGN_OR_RETURN(std::vector<SnapshotInfo> ancestors, table_.Ancestors(s.name));
  MountPlan plan;
  std::vector<std::string> lowers;
  for (const SnapshotInfo& a : ancestors) {
    if (a.remote) {
      if (a.remote->layers != a.remote->total)
        return Status::InvalidArgument("snapshot " + a.name + " is part of an imgfs image");
      if (!mounter_)
        return Status::Unavailable("no daemon to mount imgfs image " + a.remote->index);
      plan.image = *a.remote;
      lowers.push_back(ImageMountPoint(*a.remote));
      break;  // the image is whole: nothing below it shows
    }
    lowers.push_back(Dir(a.id) + "/fs");
  }
  const std::string dir = Dir(s.id);
  if (lowers.empty()) {
    plan.mounts = {{"bind", dir + "/fs", {s.kind == Kind::kActive ? "rw" : "ro", "rbind"}}};
    return plan;
  }
  std::string lowerdir = "lowerdir=";
  for (size_t i = 0; i < lowers.size(); ++i) lowerdir += (i ? ":" : "") + lowers[i];
  if (s.kind == Kind::kView) {
    if (lowers.size() == 1) {
      plan.mounts = {{"bind", lowers[0], {"ro", "rbind"}}};
    } else {
      plan.mounts = {{"overlay", "overlay", {lowerdir}}};
    }
    return plan;
  }
  plan.mounts = {
      {"overlay", "overlay", {"workdir=" + dir + "/work", "upperdir=" + dir + "/fs", lowerdir}}};
  return plan;
}

Snapshotter::~Snapshotter() {
  std::vector<AheadThread> threads;
  {
    std::lock_guard lock(ahead_mu_);
    threads.swap(ahead_threads_);
  }
  for (AheadThread& t : threads) t.thread.join();
}

void Snapshotter::MountAhead(const RemoteLayer& remote) {
  if (!mounter_) return;
  const std::string mp = ImageMountPoint(remote);
  auto result = std::make_shared<std::promise<Status>>();
  std::lock_guard lock(ahead_mu_);
  std::erase_if(ahead_threads_, [](AheadThread& t) {
    if (t.result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return false;
    t.thread.join();
    return true;
  });
  if (ahead_.count(mp)) return;
  std::shared_future<Status> future = result->get_future().share();
  ahead_[mp] = future;
  try {
    std::thread t([this, remote, mp, result] {
      Status s = MountNow(remote);
      if (!s.ok()) IMGFS_LOG(Info) << "mounting " << mp << " ahead: " << s.message();
      {
        std::lock_guard lock(ahead_mu_);
        ahead_.erase(mp);
      }
      result->set_value(std::move(s));
    });
    ahead_threads_.push_back({std::move(t), std::move(future)});
  } catch (const std::system_error&) {  // no thread: the container's Prepare mounts it
    ahead_.erase(mp);
  }
}

Status Snapshotter::MountImage(const MountPlan& plan) {
  if (!plan.image) return Status::Ok();
  std::shared_future<Status> ahead;
  {
    std::lock_guard lock(ahead_mu_);
    if (auto it = ahead_.find(ImageMountPoint(*plan.image)); it != ahead_.end()) ahead = it->second;
  }
  // Two mounts of one mount point at once: the daemon would refuse the second (409). When the
  // one ahead succeeded, the mounter finds the mount and returns at once.
  if (ahead.valid()) ahead.wait();
  return MountNow(*plan.image);
}

Status Snapshotter::MountNow(const RemoteLayer& image) {
  const std::string mp = ImageMountPoint(image);
  RETURN_IF_ERROR(MakeDir(mounts_dir_, 0700));
  RETURN_IF_ERROR(MakeDir(mp, 0755));
  Status mounted = mounter_->Mount(image.index, image.remote, mp);
  if (!mounted.ok()) return mounted.WithContext("imgfs image " + image.index);
  return Status::Ok();
}

Result<std::vector<Mount>> Snapshotter::Mounts(const std::string& key) {
  MountPlan plan;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(SnapshotInfo s, table_.Get(key));
    ASSIGN_OR_RETURN(plan, PlanMounts(s));
  }
  RETURN_IF_ERROR(MountImage(plan));
  return std::move(plan.mounts);
}

Status Snapshotter::Commit(const std::string& name, const std::string& key, const Labels& labels) {
  std::lock_guard lock(mu_);
  return table_.Commit(name, key, labels, now_()).status();
}

Status Snapshotter::Remove(const std::string& key) {
  uint64_t id;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(SnapshotInfo removed, table_.Remove(key));
    id = removed.id;
  }
  // The record is gone (saved); ids are never reused, so the directory is ours alone. An image
  // mount stays: the daemon drops it when idle and unused (its keep-warm policy).
  return RemoveTree(Dir(id));
}

Result<SnapshotInfo> Snapshotter::Stat(const std::string& key) {
  std::lock_guard lock(mu_);
  return table_.Get(key);
}

Result<SnapshotInfo> Snapshotter::Update(const SnapshotInfo& info,
                                         const std::vector<std::string>& fields) {
  std::lock_guard lock(mu_);
  return table_.Update(info, fields, now_());
}

Result<Usage> Snapshotter::GetUsage(const std::string& key) {
  std::string dir;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(SnapshotInfo s, table_.Get(key));
    if (s.remote) return Usage{};  // nothing of it is on this snapshot's disk
    dir = Dir(s.id) + "/fs";
  }
  return DiskUsage(dir);  // not under the lock: a large tree takes a while
}

Result<std::vector<SnapshotInfo>> Snapshotter::List(const std::vector<std::string>& filters) {
  ASSIGN_OR_RETURN(SnapshotFilter filter, SnapshotFilter::Parse(filters));
  std::vector<SnapshotInfo> all;
  {
    std::lock_guard lock(mu_);
    all = table_.List();
  }
  std::vector<SnapshotInfo> out;
  for (SnapshotInfo& s : all)
    if (filter.Matches(s)) out.push_back(std::move(s));
  return out;
}

Status Snapshotter::Cleanup() {
  std::lock_guard lock(mu_);
  std::set<std::string> owned;
  for (uint64_t id : table_.Ids()) owned.insert(std::to_string(id));
  std::error_code ec;
  for (fs::directory_iterator it(root_ + "/snapshots", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename();
    if (owned.count(name)) continue;
    IMGFS_LOG(Info) << "cleanup: removing " << it->path().string();
    RETURN_IF_ERROR(RemoveTree(it->path()));
  }
  if (ec) return Status::FromErrno(ec.value(), "read " + root_ + "/snapshots");
  return Status::Ok();
}

}  // namespace imgfs::snapshotter
