#include "imgfs/daemon/daemon.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstring>
#include <list>
#include <thread>

#include "core/fd.h"
#include "core/log.h"
#include "imgfs/daemon/chunk_fetcher.h"
#include "imgfs/daemon/store_admin.h"

namespace imgfs {
namespace {

constexpr size_t kMaxRequest = 1u << 20;

struct HttpRequest {
  std::string method, path, body;
};

Result<HttpRequest> ReadRequest(int fd) {
  std::string data;
  char buf[8192];
  size_t header_end;
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = RetryOnEintr([&] { return ::read(fd, buf, sizeof buf); });
    if (n <= 0) return Status::InvalidArgument("incomplete request");
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxRequest) return Status::ResourceExhausted("request too large");
  }
  HttpRequest req;
  std::string head = data.substr(0, header_end);
  size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos)
    return Status::InvalidArgument("malformed request line");
  req.method = head.substr(0, sp1);
  req.path = head.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t length = 0;
  for (size_t pos = head.find("\r\n"); pos != std::string::npos; pos = head.find("\r\n", pos + 2)) {
    std::string line = head.substr(pos + 2, head.find("\r\n", pos + 2) - pos - 2);
    if (strncasecmp(line.c_str(), "content-length:", 15) == 0) {
      std::string_view v(line);
      v.remove_prefix(v.find_first_not_of(' ', 15) == std::string_view::npos ? v.size()
                                                                             : v.find_first_not_of(' ', 15));
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), length);
      if (ec != std::errc() || end != v.data() + v.size())
        return Status::InvalidArgument("malformed Content-Length");
    }
  }
  if (length > kMaxRequest) return Status::ResourceExhausted("request too large");
  req.body = data.substr(header_end + 4);
  while (req.body.size() < length) {
    ssize_t n = RetryOnEintr([&] { return ::read(fd, buf, sizeof buf); });
    if (n <= 0) return Status::InvalidArgument("incomplete body");
    req.body.append(buf, static_cast<size_t>(n));
  }
  return req;
}

void Reply(int fd, int code, const std::string& type, const std::string& body) {
  const char* reason = code == 200 ? "OK" : code == 404 ? "Not Found" : code < 500 ? "Bad Request" : "Error";
  std::string out = "HTTP/1.0 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  (void)WriteFull(fd, out);
}

void ReplyStatus(int fd, const Status& s) {
  int code = s.code() == Code::kNotFound ? 404 : s.code() == Code::kInvalidArgument ? 400 : 500;
  Reply(fd, code, "application/json", nlohmann::json({{"error", s.message()}}).dump() + "\n");
}

Result<UniqueFd> Listen(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return Status::InvalidArgument("socket path too long: " + path);
  std::strcpy(addr.sun_path, path.c_str());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::FromErrno(errno, "socket");
  ::unlink(path.c_str());  // stale: the store lock proves no other daemon serves this store
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Status::FromErrno(errno, "bind " + path);
  if (::listen(fd.get(), 64) != 0) return Status::FromErrno(errno, "listen " + path);
  return fd;
}

}  // namespace

std::string DaemonSocketPath(const std::string& store_path) { return store_path + "/imgfs.sock"; }

Status RunDaemon(const DaemonOptions& options) {
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

  // A daemon of this store that is just exiting (its last mount went away) still holds the
  // store's lock for a moment: wait for it rather than fail the mount that started us.
  auto opened = LocalStore::Open(options.store_path);
  for (int i = 0; i < 100 && !opened.ok() && opened.status().code() == Code::kUnavailable; ++i) {
    ::usleep(100 * 1000);
    opened = LocalStore::Open(options.store_path);
  }
  if (!opened.ok()) return opened.status();
  std::unique_ptr<LocalStore> store = std::move(opened).value();
  FetcherOptions fo;
  fo.cache_size = options.cache_size;
  ChunkFetcher fetcher(*store, fo);
  RETURN_IF_ERROR(fetcher.LoadCacheState());
  MountManager mounts(*store, fetcher);
  StoreAdmin admin(*store, fetcher, [&] { return mounts.MountedIndexes(); });
  // Store jobs (convert, rm, gc) run on their own threads and answer their own connection.
  struct Job {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
  };
  std::list<Job> jobs;
  auto reap_jobs = [&](bool all) {
    for (auto it = jobs.begin(); it != jobs.end();) {
      if (!all && !it->done->load()) {
        ++it;
        continue;
      }
      it->thread.join();
      it = jobs.erase(it);
    }
  };
  const std::string socket_path = DaemonSocketPath(options.store_path);
  ASSIGN_OR_RETURN(UniqueFd listener, Listen(socket_path));

  bool had_mount = false;
  if (options.mount) {
    Result<Digest> first = mounts.Mount(*options.mount);
    if (options.on_ready) options.on_ready(first);
    if (!first.ok()) {
      ::unlink(socket_path.c_str());
      return first.status();
    }
    had_mount = true;
  } else if (options.on_ready) {
    options.on_ready(Digest{});
  }

  bool running = true;
  while (running) {
    pollfd fds[2] = {{listener.get(), POLLIN, 0}, {sigfd.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, 500);
    mounts.Reap();
    reap_jobs(false);
    if (options.exit_when_idle && had_mount && mounts.size() == 0 && jobs.empty()) break;
    if (n <= 0) continue;
    if (fds[1].revents & POLLIN) {
      IMGFS_LOG(Info) << "signal received; unmounting and exiting";
      break;
    }
    if (!(fds[0].revents & POLLIN)) continue;
    UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    timeval tv{5, 0};
    setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto req = ReadRequest(conn.get());
    if (!req.ok()) {
      ReplyStatus(conn.get(), req.status());
      continue;
    }
    nlohmann::json body = nlohmann::json::parse(req->body.empty() ? "{}" : req->body, nullptr, false);
    if (body.is_discarded()) {
      ReplyStatus(conn.get(), Status::InvalidArgument("request body is not JSON"));
      continue;
    }
    const std::string route = req->method + " " + req->path;
    try {  // a field of the wrong JSON type throws; it is the client's error, not the daemon's end
      if (route == "POST /mount") {
        auto request = MountRequest::FromJson(body);
        Result<Digest> d = request.ok() ? mounts.Mount(*request) : Result<Digest>(request.status());
        if (d.ok()) {
          had_mount = true;
          Reply(conn.get(), 200, "application/json",
                nlohmann::json({{"digest", d->ToString()}}).dump() + "\n");
        } else {
          ReplyStatus(conn.get(), d.status());
        }
      } else if (route == "POST /umount") {
        Status s = mounts.Unmount(body.value("mountpoint", ""));
        if (s.ok()) Reply(conn.get(), 200, "application/json", "{}\n");
        else ReplyStatus(conn.get(), s);
      } else if (route == "POST /cache") {
        fetcher.SetCacheSize(body.value("cache_size", uint64_t{0}));
        Reply(conn.get(), 200, "application/json", "{}\n");
      } else if (route == "GET /stats") {
        Reply(conn.get(), 200, "application/json", mounts.StatsJson().dump(2) + "\n");
      } else if (route == "GET /metrics") {
        Reply(conn.get(), 200, "text/plain; version=0.0.4", mounts.Prometheus());
      } else if (StoreAdmin::Handles(route)) {
        Job& job = jobs.emplace_back();
        job.thread = std::thread([&admin, route, body, done = job.done, fd = std::move(conn)] {
          Result<nlohmann::json> result{Status::Internal("not run")};
          try {
            result = admin.Run(route, body);
          } catch (const std::exception& e) {
            result = Status::InvalidArgument(std::string("malformed request: ") + e.what());
          }
          if (result.ok()) Reply(fd.get(), 200, "application/json", result->dump() + "\n");
          else ReplyStatus(fd.get(), result.status());
          done->store(true);
        });
      } else if (route == "POST /shutdown") {
        Reply(conn.get(), 200, "application/json", "{}\n");
        running = false;
      } else {
        ReplyStatus(conn.get(), Status::NotFound("no such request: " + route));
      }
    } catch (const std::exception& e) {
      if (conn.valid())
        ReplyStatus(conn.get(), Status::InvalidArgument(std::string("malformed request: ") + e.what()));
    }
  }
  // Stop taking requests first, so a new `imgfs mount` starts a fresh daemon instead of talking
  // to this one while it winds down.
  ::unlink(socket_path.c_str());
  listener.Reset();
  if (!jobs.empty()) IMGFS_LOG(Info) << "waiting for " << jobs.size() << " store job(s) to finish";
  reap_jobs(true);
  mounts.UnmountAll();
  return Status::Ok();
}

}  // namespace imgfs
