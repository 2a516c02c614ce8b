#include "imgfs/daemon/mount_manager.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <system_error>

#include "core/log.h"
#include "imgfs/daemon/mount_point.h"
#include "imgfs/daemon/request_fields.h"
#include "imgfs/registry/registry_remote.h"

namespace imgfs::daemon {

namespace {
constexpr uint64_t kMaxIndexSize = 1ull << 30;
constexpr uint64_t kMaxTraceSize = 64u << 20;
}  // namespace

struct MountManager::Mounted {
  MountRequest request;
  std::shared_ptr<const ImageIndex> index;
  // The image's OCI config (Entrypoint, Env, ...) from the index's metadata, which `imgfs run`
  // builds its container from; read once at mount.
  nlohmann::json image_config;
  std::unique_ptr<remote::RemoteStore> remote;
  // Where the remote's retries are counted: the mount's metrics once fs exists; before that
  // (fetching the index, on the mounting thread only) early_retries, folded in then.
  std::atomic<Metrics*> metrics{nullptr};
  std::array<std::atomic<uint64_t>, remote::kRetryCauseCount> early_retries{};
  std::shared_ptr<TraceRecorder> trace;
  std::unique_ptr<ImageFs> fs;
  std::unique_ptr<FuseMount> fuse;
  std::vector<std::thread> workers;  // the index publisher, the replay and the trace saver
  bool fetched_index = false;        // the index came from the remote, not the local store
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable cv;  // stopping was set
  bool trace_saved = false;    // GUARDED_BY(mu)
  // UnmountIdle's view (under MountManager::mu_): the read count when it last moved, and when.
  uint64_t idle_reads = 0;
  std::chrono::steady_clock::time_point idle_since = std::chrono::steady_clock::now();
  uint64_t held_id = 0;  // the supervisor's id of its FUSE connection; 0: not held
  // The image's file bytes and stored bytes, summed over its ~10^5 inodes and chunks at the
  // first /stats (under MountManager::mu_), not at every one: `imgfs run` asks at each start.
  std::optional<std::pair<uint64_t, uint64_t>> sizes;
};

Result<MountRequest> MountRequest::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::InvalidArgument("mount request is not a JSON object");
  MountRequest r;
  r.image = j.value("image", "");
  r.mountpoint = j.value("mountpoint", "");
  r.remote = j.value("remote", "");
  r.ca_file = j.value("ca_file", "");
  r.trace = j.value("trace", "off");
  ASSIGN_OR_RETURN(uint64_t seconds, UintField(j, "trace_seconds", 30, 1, kMaxTraceSeconds));
  ASSIGN_OR_RETURN(uint64_t threads, UintField(j, "prefetch_threads", 8, 1, kMaxPrefetchThreads));
  r.trace_seconds = static_cast<unsigned>(seconds);
  r.prefetch_threads = static_cast<unsigned>(threads);
  if (j.contains("idle_unmount") && !j["idle_unmount"].is_null()) {
    ASSIGN_OR_RETURN(uint64_t idle, UintField(j, "idle_unmount", 0, 0, kMaxIdleUnmount));
    r.idle_unmount = static_cast<unsigned>(idle);
  }
  if (r.image.empty() || r.mountpoint.empty())
    return Status::InvalidArgument("mount needs an image and a mountpoint");
  if (r.trace != "off" && r.trace != "record" && r.trace != "replay")
    return Status::InvalidArgument("--trace must be record, replay or off");
  return r;
}

nlohmann::json MountRequest::ToJson() const {
  return {{"image", image},
          {"mountpoint", mountpoint},
          {"remote", remote},
          {"ca_file", ca_file},
          {"trace", trace},
          {"trace_seconds", trace_seconds},
          {"prefetch_threads", prefetch_threads},
          {"idle_unmount", idle_unmount ? nlohmann::json(*idle_unmount) : nlohmann::json()}};
}

MountManager::MountManager(store::LocalStore& store, ChunkFetcher& fetcher, std::string source,
                           remote::RemoteOptions remote_options, SupervisorLink* link)
    : store_(store),
      fetcher_(fetcher),
      source_(std::move(source)),
      remote_options_(std::move(remote_options)),
      link_(link) {}

MountManager::~MountManager() { UnmountAll(); }

Result<std::shared_ptr<const ImageIndex>> MountManager::ResolveImage(
    const std::string& image, remote::RemoteStore* remote, std::atomic<uint64_t>* refetches,
    bool* fetched) {
  *fetched = false;
  auto local = store_.Resolve(image);
  if (local.ok()) return store_.GetIndex(*local);
  auto parsed = Digest::Parse(image);
  if (parsed.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = publishing_.find(*parsed); it != publishing_.end()) return it->second;
  }
  if (!remote) return local.status();
  if (!parsed.ok())
    return Status::InvalidArgument("image " + image +
                                   " is not in the local store; name a remote image by its digest");
  const Digest digest = *parsed;
  ASSIGN_OR_RETURN(std::string bytes, remote::FetchIndex(*remote, digest, kMaxIndexSize,
                                                         ChunkFetcher::kVerifyAttempts, refetches));
  ASSIGN_OR_RETURN(auto index, ImageIndex::Parse(std::move(bytes), digest));  // FetchIndex checked
  // From here until it is written to the store, the index is in publishing_: other mounts take
  // it from there, and gc counts it as mounted.
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, added] = publishing_.emplace(digest, index);
  *fetched = added;  // else another mount fetched it at the same time and will write it
  return it->second;
}

void MountManager::DonePublishing(const std::shared_ptr<const ImageIndex>& index) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = publishing_.find(index->digest()); it != publishing_.end() && it->second == index)
    publishing_.erase(it);
  published_cv_.notify_all();
}

void MountManager::FinishPublishing(std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lock(mu_);
  published_cv_.wait_for(lock, limit, [this] { return publishing_.empty(); });
}

void MountManager::PublishFetchedIndex(Mounted& m) {
  // Not synced: a crash costs only a second fetch. Written after the mount's answer: a 6 MB
  // index's WAL write (with RocksDB's software CRC32C) was ~20 ms of an empty node's mount.
  Status s = store_.PublishIndex(*m.index, m.index->digest().ToString(),
                                 store::LocalStore::Durability::kRefetchable);
  if (!s.ok()) {
    ScopedLogFields fields(&m.fs->log_fields());
    IMGFS_LOG(Warning) << "keeping the fetched index: " << s.message();
  }
  DonePublishing(m.index);
}

Result<Digest> MountManager::Mount(const MountRequest& request, nlohmann::json* image_config) {
  ASSIGN_OR_RETURN(MountPoint point, ResolveMountPoint(request.mountpoint));
  const std::string real = point.path;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (mounts_.count(real)) return Status::AlreadyExists(real + " is already mounted");
    if (!pending_.insert(real).second)
      return Status::AlreadyExists(real + " is being mounted by another request");
  }
  struct Reservation {
    MountManager* self;
    std::string path;
    ~Reservation() {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->pending_.erase(path);
    }
  } reservation{this, real};
  if (point.dead) RETURN_IF_ERROR(DetachDeadFuseMount(real));

  auto m = std::make_unique<Mounted>();
  m->request = request;
  m->request.mountpoint = real;
  RETURN_IF_ERROR(OpenImage(*m));
  // A fetched index leaves publishing_ when its writer thread is done, or here if this mount
  // fails before starting it.
  struct Unpublished {
    MountManager* self;
    std::shared_ptr<const ImageIndex> index;  // null once the writer thread owns it
    ~Unpublished() {
      if (index) self->DonePublishing(index);
    }
  } unpublished{this, m->fetched_index ? m->index : nullptr};
  if (request.trace == "record")
    m->trace = std::make_shared<TraceRecorder>(std::chrono::seconds(request.trace_seconds));
  m->fs = std::make_unique<ImageFs>(m->index, fetcher_, m->remote.get(), m->trace);
  m->fs->set_log_fields({{"mount", real}, {"image", m->index->digest().ToString()}});
  for (size_t i = 0; i < m->early_retries.size(); ++i)
    m->fs->metrics().retries[i] += m->early_retries[i].exchange(0);
  m->metrics.store(&m->fs->metrics());
  Mounted* raw = m.get();
  ASSIGN_OR_RETURN(m->fuse,
                   FuseMount::Start(m->fs.get(), real, source_, [raw] { raw->cv.notify_all(); }));
  {
    ScopedLogFields fields(&m->fs->log_fields());
    IMGFS_LOG(Info) << "mounted" << (m->remote ? " from " + m->remote->Describe() : "");
  }
  HoldConnection(*m);
  try {
    StartWorkers(*m);
    unpublished.index = nullptr;
  } catch (const std::exception& e) {  // out of threads: undo this mount, keep the others
    Stop(*m);
    return Status::Unavailable("cannot start the threads of the mount at " + real + ": " +
                               e.what());
  }
  Digest digest = m->index->digest();
  if (image_config) *image_config = m->image_config;
  std::lock_guard<std::mutex> lock(mu_);
  mounts_[real] = std::move(m);
  return digest;
}

void MountManager::StartWorkers(Mounted& m) {
  Mounted* raw = &m;
  m.workers.reserve(3);  // so that only starting a thread can throw below
  if (m.fetched_index) {
    m.workers.emplace_back([this, raw] { PublishFetchedIndex(*raw); });
  }
  if (m.request.trace == "replay") m.workers.emplace_back([this, raw] { Replay(*raw); });
  if (m.trace) {
    // Saves the trace when the window closes (or at unmount, whichever is first).
    m.workers.emplace_back([this, raw] {
      ScopedLogFields fields(&raw->fs->log_fields());
      std::unique_lock<std::mutex> lock(raw->mu);
      raw->cv.wait_for(lock, std::chrono::seconds(raw->request.trace_seconds),
                       [raw] { return raw->stopping.load(); });
      if (raw->trace_saved) return;
      raw->trace_saved = true;
      Status s = store_.PutTrace(raw->index->digest(), raw->trace->Serialize());
      if (!s.ok()) {
        IMGFS_LOG(Warning) << "saving trace: " << s.message();
      } else {
        IMGFS_LOG(Info) << "recorded a trace of " << raw->trace->size() << " chunks";
      }
    });
  }
}

void MountManager::Replay(Mounted& m) {
  ScopedLogFields fields(&m.fs->log_fields());
  std::string text;
  if (auto local = store_.GetTrace(m.index->digest()); local.ok()) {
    text = std::move(*local);
  } else if (m.remote) {
    auto remote = m.remote->ReadTrace(m.index->digest(), kMaxTraceSize);
    if (remote.ok()) text = std::move(*remote);
  }
  if (m.stopping) return;  // unmounted while the trace came
  const std::vector<uint32_t> chunks = m.fs->ChunksOf(ParseTrace(text));
  if (chunks.empty()) {
    IMGFS_LOG(Info) << "no trace to replay";
    return;
  }
  m.fs->metrics().prefetch_total = chunks.size();
  {
    // The kernel reads every local chunk of the trace at once, in file order, instead of one
    // chunk per worker at a time: a cold store's replay of the numpy image's 641 chunks took
    // 130-145 ms, 75-100 ms with this (issued from a worker instead: 110-125 ms).
    std::vector<Digest> digests;
    digests.reserve(chunks.size());
    for (uint32_t c : chunks) digests.push_back(m.index->Chunk(c).digest);
    store_.WillNeed(digests);
  }
  // Workers (this thread and prefetch_threads - 1 more) take the trace in order, a batch at a
  // time; a batch's missing chunks that lie together in a pack (as a trace-ordered repack lays
  // them) come in one range request.
  constexpr size_t kBatch = 32;
  std::atomic<size_t> next{0};
  const auto start = std::chrono::steady_clock::now();
  auto work = [&] {
    ScopedLogFields worker_fields(&m.fs->log_fields());
    Metrics& metrics = m.fs->metrics();
    for (size_t i; !m.stopping && (i = next.fetch_add(kBatch)) < chunks.size();) {
      std::vector<uint32_t> batch(chunks.begin() + i,
                                  chunks.begin() + std::min(i + kBatch, chunks.size()));
      Status s = m.fs->Prefetch(batch);
      if (!s.ok()) {
        IMGFS_LOG(Debug) << "prefetch: " << s.message();
      }
      if (metrics.prefetch_done.load() >= chunks.size()) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
        uint64_t unset = 0;
        metrics.prefetch_us.compare_exchange_strong(unset, std::max<uint64_t>(1, us));
      }
    }
  };
  std::vector<std::thread> helpers;
  try {
    for (unsigned t = 1; t < m.request.prefetch_threads; ++t) helpers.emplace_back(work);
  } catch (const std::system_error& e) {  // out of threads: fewer helpers do it
    IMGFS_LOG(Warning) << "replaying with " << helpers.size() + 1 << " threads: " << e.what();
  }
  work();
  for (std::thread& t : helpers) t.join();
}

Status MountManager::OpenImage(Mounted& m) {
  const MountRequest& request = m.request;
  if (!request.remote.empty()) {
    remote::RemoteOptions options = remote_options_;
    options.ca_file = request.ca_file;
    // Retries before the filesystem (and its metrics) exists are kept and added to it later.
    Mounted* counted = &m;
    options.on_retry = [counted](remote::RetryCause cause) {
      if (Metrics* metrics = counted->metrics.load()) {
        metrics->CountRetry(cause);
      } else {
        counted->early_retries[static_cast<size_t>(cause)]++;
      }
    };
    if (registry::IsRegistryReference(request.remote)) {
      ASSIGN_OR_RETURN(m.remote, registry::OpenRegistryRemoteStore(request.remote, options));
    } else {
      ASSIGN_OR_RETURN(m.remote, remote::OpenRemoteStore(request.remote, options));
    }
  }
  ASSIGN_OR_RETURN(
      m.index, ResolveImage(request.image, m.remote.get(),
                            &m.early_retries[static_cast<size_t>(remote::RetryCause::kBadAnswer)],
                            &m.fetched_index));
  nlohmann::json meta = nlohmann::json::parse(m.index->metadata(), nullptr, false);
  if (meta.is_object() && meta.contains("config")) m.image_config = meta["config"];
  return Status::Ok();
}

void MountManager::HoldConnection(Mounted& m) {
  if (!link_) return;
  ScopedLogFields fields(&m.fs->log_fields());
  // The kernel's INIT is the first request of the connection, answered by now or very soon.
  auto init = m.fuse->WaitForInit(std::chrono::seconds(10));
  if (!init.ok()) {
    IMGFS_LOG(Warning) << "this mount will not survive a daemon crash: " << init.status().message();
    return;
  }
  // The image by digest: a name may point elsewhere by the time a new daemon takes over.
  MountRequest pinned = m.request;
  pinned.image = m.index->digest().ToString();
  nlohmann::json record = {{"request", pinned.ToJson()}, {"init", init->ToJson()}};
  auto id = link_->Hold(record, m.fuse->fuse_fd());
  if (!id.ok()) {
    IMGFS_LOG(Warning) << "this mount will not survive a daemon crash: " << id.status().message();
    return;
  }
  m.held_id = *id;
}

Status MountManager::Adopt(SupervisorLink::Handed handed) {
  auto m = std::make_unique<Mounted>();
  m->held_id = handed.id;
  auto adopt = [&]() -> Status {
    const nlohmann::json& record = handed.record;
    if (!record.is_object() || !record.contains("request") || !record.contains("init"))
      return Status::InvalidArgument("the supervisor's record of the mount is incomplete");
    ASSIGN_OR_RETURN(m->request, MountRequest::FromJson(record["request"]));
    ASSIGN_OR_RETURN(FuseInitParams init, FuseInitParams::FromJson(record["init"]));
    RETURN_IF_ERROR(OpenImage(*m));
    const std::string& point = m->request.mountpoint;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (mounts_.count(point)) return Status::AlreadyExists(point + " is already mounted");
    }
    m->fs = std::make_unique<ImageFs>(m->index, fetcher_, m->remote.get(), nullptr);
    m->fs->set_log_fields({{"mount", point}, {"image", m->index->digest().ToString()}});
    for (size_t i = 0; i < m->early_retries.size(); ++i)
      m->fs->metrics().retries[i] += m->early_retries[i].exchange(0);
    m->metrics.store(&m->fs->metrics());
    Mounted* raw = m.get();
    ASSIGN_OR_RETURN(m->fuse, FuseMount::Adopt(m->fs.get(), std::move(handed.fuse_fd), point,
                                               source_, init, [raw] { raw->cv.notify_all(); }));
    return Status::Ok();
  };
  Status adopted = Status::Ok();
  try {
    adopted = adopt();
  } catch (const nlohmann::json::exception& e) {  // a field of the wrong type
    adopted =
        Status::InvalidArgument(std::string("the supervisor's record of the mount: ") + e.what());
  }
  if (!adopted.ok()) {  // nothing was served: the connection is let go, the mount left alone
    if (m->fetched_index) DonePublishing(m->index);
    if (link_) link_->Release(handed.id);
    return adopted;
  }
  if (m->fetched_index) PublishFetchedIndex(*m);
  {
    ScopedLogFields fields(&m->fs->log_fields());
    IMGFS_LOG(Info) << "taken over from the daemon that ended";
  }
  std::lock_guard<std::mutex> lock(mu_);
  mounts_[m->request.mountpoint] = std::move(m);
  return Status::Ok();
}

void MountManager::Stop(Mounted& m) {
  m.stopping = true;
  m.cv.notify_all();
  m.fuse.reset();  // unmounts and waits for the FUSE threads
  if (link_ && m.held_id) link_->Release(m.held_id);
  m.held_id = 0;
  for (auto& t : m.workers) t.join();
  m.workers.clear();
}

Status MountManager::Unmount(const std::string& mountpoint) {
  auto point = ResolveMountPoint(mountpoint);
  std::string key = point.ok() ? point->path : mountpoint;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = mounts_.find(key);
  if (it == mounts_.end()) return Status::NotFound(mountpoint + " is not mounted by this daemon");
  std::shared_ptr<Mounted> m = std::move(it->second);
  mounts_.erase(it);
  // Detach from the kernel now; the FUSE threads may be waiting on a remote fetch (bounded by
  // its timeouts), so they are joined in the background.
  m->stopping = true;
  m->cv.notify_all();
  m->fuse->Unmount();
  retiring_.emplace_back([this, m] { Stop(*m); });
  return Status::Ok();
}

void MountManager::UnmountAll() {
  std::map<std::string, std::unique_ptr<Mounted>> all;
  std::vector<std::thread> retiring;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all.swap(mounts_);
    retiring.swap(retiring_);
  }
  for (auto& [path, m] : all) Stop(*m);
  for (auto& t : retiring) t.join();
}

void MountManager::Reap() {
  std::vector<std::unique_ptr<Mounted>> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = mounts_.begin(); it != mounts_.end();) {
      if (it->second->fuse->finished()) {
        IMGFS_LOG(Info) << it->first << " was unmounted";
        gone.push_back(std::move(it->second));
        it = mounts_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& m : gone) Stop(*m);
}

void MountManager::UnmountIdle() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<MountEntry> table;  // read once, when a mount is due
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [mountpoint, m] : mounts_) {
    if (!m->request.idle_unmount) continue;
    const uint64_t reads = m->fs->metrics().reads.load(std::memory_order_relaxed);
    if (reads != m->idle_reads) {
      m->idle_reads = reads;
      m->idle_since = now;
      continue;
    }
    if (now - m->idle_since < std::chrono::seconds(*m->request.idle_unmount)) continue;
    m->idle_since = now;  // busy or not, the next try is a whole idle period away
    if (table.empty()) table = ReadMountTable();
    if (OverlayUsesLower(table, mountpoint)) continue;  // a container's root
    // Not MNT_DETACH: the kernel says EBUSY while a file is open or a cwd is in the mount.
    if (::umount2(mountpoint.c_str(), UMOUNT_NOFOLLOW) == 0) {
      IMGFS_LOG(Info) << mountpoint << " unmounted after " << *m->request.idle_unmount << " s idle";
    } else if (errno != EBUSY) {
      IMGFS_LOG(Warning) << "idle unmount of " << mountpoint << ": " << std::strerror(errno);
    }
  }
}

size_t MountManager::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return mounts_.size();
}

std::vector<Digest> MountManager::MountedIndexes() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Digest> out;
  for (const auto& [mountpoint, m] : mounts_) out.push_back(m->index->digest());
  for (const auto& [digest, index] : publishing_) out.push_back(digest);
  return out;
}

nlohmann::json MountManager::StatsJson() {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json mounts = nlohmann::json::array();
  for (auto& [path, m] : mounts_) {
    if (!m->sizes) {
      uint64_t image_bytes = 0, stored = 0;
      for (uint32_t i = 0; i < m->index->inode_count(); ++i) {
        InodeAttrs a = m->index->Attrs(i);
        if (S_ISREG(a.mode)) image_bytes += a.size;
      }
      for (uint32_t c = 0; c < m->index->chunk_count(); ++c)
        stored += m->index->Chunk(c).stored_length;
      m->sizes.emplace(image_bytes, stored);
    }
    const auto [image_bytes, stored] = *m->sizes;
    nlohmann::json metrics = m->fs->metrics().ToJson();
    for (const char* k : {"evictions", "bytes_evicted", "cached_bytes"}) metrics.erase(k);
    mounts.push_back({{"mountpoint", path},
                      {"image", m->index->digest().ToString()},
                      {"image_config", m->image_config},
                      {"request", m->request.ToJson()},
                      {"image_file_bytes", image_bytes},
                      {"image_stored_bytes", stored},
                      {"metrics", metrics}});
  }
  // The cache is the daemon's, shared by every mount: only its own figures.
  const nlohmann::json all = fetcher_.cache_metrics().ToJson();
  nlohmann::json cache;
  for (const char* k : {"evictions", "bytes_evicted", "cached_bytes"}) cache[k] = all[k];
  // Mount points whose mount is under way (waiting on a remote, say).
  nlohmann::json mounting = nlohmann::json::array();
  for (const std::string& path : pending_) mounting.push_back(path);
  return {{"mounts", mounts}, {"mounting", mounting}, {"cache", cache}};
}

std::string MountManager::Prometheus() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, const Metrics*>> series = {{"", &fetcher_.cache_metrics()}};
  for (auto& [path, m] : mounts_)
    series.emplace_back("{mount=" + Metrics::QuoteLabel(path) + "}", &m->fs->metrics());
  return Metrics::ToPrometheus(series);
}

}  // namespace imgfs::daemon
