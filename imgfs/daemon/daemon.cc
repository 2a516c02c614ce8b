#include "imgfs/daemon/daemon.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "core/fd.h"
#include "core/log.h"
#include "imgfs/daemon/chunk_fetcher.h"
#include "imgfs/daemon/control_server.h"
#include "imgfs/daemon/metrics_listener.h"
#include "imgfs/daemon/mount_point.h"
#include "imgfs/daemon/request_fields.h"
#include "imgfs/daemon/store_admin.h"
#include "imgfs/daemon/store_dir.h"
#include "imgfs/daemon/supervisor.h"

namespace imgfs::daemon {
namespace {

// A daemon started to serve mounts (exit_when_idle) that never gets one exits after this.
constexpr auto kFirstMountWait = std::chrono::seconds(60);

control::Response Json(const nlohmann::json& j, int indent = -1) {
  return {200, "application/json", j.dump(indent) + "\n"};
}

// What the request handlers share with the main loop.
struct DaemonState {
  MountManager& mounts;
  ChunkFetcher& fetcher;
  StoreAdmin& admin;
  std::atomic<bool> shutdown{false};
  std::atomic<bool> upgrade{false};      // hand the mounts to the installed binary and exit
  std::atomic<bool> mount_tried{false};  // a mount request has been answered
  UniqueFd wake;                         // eventfd: the main loop has something to look at
  SupervisorLink* link = nullptr;        // null: unsupervised

  void Wake() {
    const uint64_t one = 1;
    (void)!::write(wake.get(), &one, sizeof one);
  }
};

std::vector<control::Route> Routes(DaemonState& d) {
  using control::Response;
  using Body = const nlohmann::json&;
  auto admin = [&d](const std::string& route) {
    return [&d, route](Body body) -> Result<Response> {
      ASSIGN_OR_RETURN(nlohmann::json reply, d.admin.Run(route, body));
      return Json(reply);
    };
  };
  return {
      {"POST", "/mount",
       [&d](Body body) -> Result<Response> {
         nlohmann::json image_config;
         auto mounted = [&]() -> Result<Digest> {
           ASSIGN_OR_RETURN(MountRequest request, MountRequest::FromJson(body));
           return d.mounts.Mount(request, &image_config);
         }();
         d.mount_tried = true;
         d.Wake();
         if (!mounted.ok()) return mounted.status();
         return Json({{"digest", mounted->ToString()}, {"image_config", image_config}});
       }},
      {"POST", "/umount",
       [&d](Body body) -> Result<Response> {
         RETURN_IF_ERROR(d.mounts.Unmount(body.value("mountpoint", "")));
         d.Wake();
         return Json(nlohmann::json::object());
       }},
      {"POST", "/cache",
       [&d](Body body) -> Result<Response> {
         ASSIGN_OR_RETURN(uint64_t size, UintField(body, "cache_size", 0, 0, kMaxCacheSize));
         d.fetcher.SetCacheSize(size);
         return Json(nlohmann::json::object());
       }},
      {"GET", "/stats",
       [&d](Body) -> Result<Response> {
         nlohmann::json stats = d.mounts.StatsJson();
         stats["daemon"] = {{"pid", ::getpid()},
                            {"supervised", d.link != nullptr},
                            {"restarts", d.link ? d.link->restarts() : 0u}};
         return Json(stats, 2);
       }},
      {"GET", "/metrics",
       [&d](Body) -> Result<Response> {
         return Response{200, "text/plain; version=0.0.4", d.mounts.Prometheus()};
       }},
      {"POST", "/convert", admin("POST /convert")},
      {"POST", "/rm", admin("POST /rm")},
      {"POST", "/gc", admin("POST /gc")},
      {"POST", "/repack", admin("POST /repack")},
      {"POST", "/pull", admin("POST /pull")},
      {"POST", "/upgrade",
       [&d](Body) -> Result<Response> {
         if (!d.link)
           return Status::InvalidArgument(
               "this daemon runs without a supervisor (--no-supervise, imgfs mount -f): it "
               "cannot hand its mounts over");
         d.upgrade = true;
         d.Wake();
         return Json({{"pid", ::getpid()}});
       }},
      {"POST", "/shutdown",
       [&d](Body) -> Result<Response> {
         d.shutdown = true;
         d.Wake();
         return Json(nlohmann::json::object());
       }},
  };
}

}  // namespace

std::string DaemonSocketPath(const std::string& store_path) { return store_path + "/imgfs.sock"; }

Status RunDaemon(const DaemonOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  // A client that hangs up before its answer (Ctrl-C of `imgfs convert`) must cost a failed
  // write, not the daemon and every mount it serves.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  UniqueFd sigfd(::signalfd(-1, &signals, SFD_CLOEXEC));
  if (!sigfd.valid()) return Status::FromErrno(errno, "signalfd");

  // Private whatever the umask or the mode it was left in; refused when someone else owns it.
  ASSIGN_OR_RETURN(uid_t owner, SecureStoreDir(options.store_path));
  // Declared before everything that may tell it about a mount, so it outlives them.
  std::unique_ptr<SupervisorLink> link;
  if (options.supervisor_fd >= 0) {
    ASSIGN_OR_RETURN(link, SupervisorLink::Connect(options.supervisor_fd));
  }
  if (options.cache_size > kMaxCacheSize)
    return Status::InvalidArgument("cache size must be at most " + std::to_string(kMaxCacheSize));

  // A daemon of this store that is just exiting (its last mount went away) still holds the
  // store's lock for a moment: wait for it rather than fail the mount that started us.
  auto opened = store::LocalStore::Open(options.store_path);
  for (int i = 0; i < 100 && !opened.ok() && opened.status().code() == Code::kUnavailable; ++i) {
    ::usleep(100 * 1000);
    opened = store::LocalStore::Open(options.store_path);
  }
  if (!opened.ok()) return opened.status();
  std::unique_ptr<store::LocalStore> store = std::move(opened).value();
  FetcherOptions fo;
  fo.cache_size = options.cache_size;
  fo.request_deadline = options.remote_timeout;
  fo.memory_cache_bytes = options.memory_cache;
  ChunkFetcher fetcher(*store, fo);
  RETURN_IF_ERROR(fetcher.LoadCacheState());
  remote::RemoteOptions remote_options;
  remote_options.call_timeout = options.remote_timeout;
  // Room for at least three attempts within the bound (a stalled one is cut at this too).
  remote_options.request_timeout =
      std::min(remote_options.request_timeout,
               std::max(options.remote_timeout / 3, std::chrono::milliseconds(1000)));
  MountManager mounts(*store, fetcher, MountSource(options.store_path), remote_options, link.get());
  // The mounts of the daemon that died: served again before anything else, since readers wait.
  size_t adopted = 0;
  if (link) {
    for (SupervisorLink::Handed& handed : link->TakeHanded()) {
      const nlohmann::json* point = handed.record.is_object() && handed.record.contains("request")
                                        ? &handed.record["request"]
                                        : nullptr;
      if (point && point->is_object() && point->contains("mountpoint"))
        point = &(*point)["mountpoint"];
      if (Status s = mounts.Adopt(std::move(handed)); s.ok()) {
        ++adopted;
      } else {
        IMGFS_LOG(Error) << "the mount at " << (point ? point->dump() : "?")
                         << " cannot be taken over: " << s.message();
      }
    }
    if (link->restarts() > 0) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
      if (link->upgrade()) {
        IMGFS_LOG(Info) << "took over " << adopted << " mount(s) from the daemon it replaces, "
                        << ms << " ms after start";
      } else {
        IMGFS_LOG(Warning) << "restarted by the supervisor after a crash (restart "
                           << link->restarts() << "); " << adopted << " mount(s) taken over " << ms
                           << " ms after start";
      }
    }
  }
  // gc keeps the chunks of the indexes it finds in the store: indexes fetched by the latest
  // mounts are written there first.
  StoreAdmin admin(*store, fetcher, [&] {
    mounts.FinishPublishing(std::chrono::seconds(10));
    return mounts.MountedIndexes();
  });
  DaemonState state{mounts, fetcher, admin, {}, {}, {}, {}, link.get()};
  if (adopted) state.mount_tried = true;
  state.wake = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!state.wake.valid()) return Status::FromErrno(errno, "eventfd");

  control::ServerOptions server_options;
  server_options.socket_path = DaemonSocketPath(options.store_path);
  server_options.owner = owner;
  server_options.on_done = [&state] { state.Wake(); };
  ASSIGN_OR_RETURN(auto server, control::Server::Listen(server_options, Routes(state),
                                                        link ? link->TakeListener() : UniqueFd()));
  // Kept by the supervisor: while this process restarts, clients queue instead of failing (and
  // starting a second daemon for the store).
  if (link) link->HoldListener(server->fd());
  std::unique_ptr<MetricsListener> metrics;
  if (!options.metrics_address.empty()) {
    ASSIGN_OR_RETURN(metrics, MetricsListener::Listen(options.metrics_address,
                                                      [&mounts] { return mounts.Prometheus(); }));
  }

  if (options.mount) {
    Result<Digest> first = mounts.Mount(*options.mount);
    if (options.on_ready) options.on_ready(first);
    if (!first.ok()) return first.status();  // ~Server removes the socket
    state.mount_tried = true;
  } else if (options.on_ready) {
    options.on_ready(Digest{});
  }

  const auto started = std::chrono::steady_clock::now();
  for (;;) {
    pollfd fds[3] = {
        {server->fd(), POLLIN, 0}, {sigfd.get(), POLLIN, 0}, {state.wake.get(), POLLIN, 0}};
    // The timeout notices mounts unmounted from outside (umount MOUNTPOINT).
    int n = ::poll(fds, 3, 500);
    mounts.UnmountIdle();
    mounts.Reap();
    if (options.exit_when_idle && mounts.size() == 0 && server->active() == 0 &&
        (state.mount_tried || std::chrono::steady_clock::now() - started > kFirstMountWait))
      break;
    if (n <= 0) continue;
    if (fds[1].revents & POLLIN) {
      IMGFS_LOG(Info) << "signal received; unmounting and exiting";
      break;
    }
    if (fds[2].revents & POLLIN) {
      uint64_t count;
      (void)!::read(state.wake.get(), &count, sizeof count);
    }
    if (state.shutdown || state.upgrade) break;
    if (fds[0].revents & POLLIN) server->AcceptOne();
  }
  // Stop taking requests first, so a new `imgfs mount` starts a fresh daemon instead of talking
  // to this one while it winds down; on a hand-over they wait for the next daemon instead.
  if (state.upgrade) {
    server->StopAccepting();
  } else {
    server->Close();
  }
  if (size_t busy = server->active()) {
    IMGFS_LOG(Info) << "waiting for " << busy << " request(s) to finish";
  }
  server->Drain();
  if (state.upgrade) {
    // A planned hand-over: the mounts stay, their connections held by the supervisor; the FUSE
    // requests being served now are resent to the next daemon, as after a crash. What was
    // written to the store is made durable first; the process then ends at once, since the
    // serving threads cannot be stopped without answering or unmounting. Indexes fetched by
    // the latest mounts are written first, so the next daemon need not fetch them again.
    mounts.FinishPublishing(std::chrono::seconds(10));
    if (Status s = store->SyncChunks(); !s.ok()) {
      IMGFS_LOG(Warning) << "before the hand-over: " << s.message();
    }
    if (Status s = link->RequestRestart(); s.ok()) {
      IMGFS_LOG(Info) << "handing " << mounts.size() << " mount(s) to the installed binary";
      ::_exit(0);
    } else {
      IMGFS_LOG(Error) << "the supervisor cannot be told of the hand-over (" << s.message()
                       << "); unmounting instead";
    }
  }
  mounts.UnmountAll();
  if (link) link->AnnounceExit();
  return Status::Ok();
}

}  // namespace imgfs::daemon
