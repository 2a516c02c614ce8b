// The daemon's control plumbing without FUSE: request reading under size and time limits,
// checked request numbers, the concurrent route server, the private store directory, mount
// point resolution, convert bounds, and a thread pool that cannot start its threads.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/fd.h"
#include "core/thread_pool.h"
#include "imgfs/daemon/control_http.h"
#include "imgfs/daemon/control_server.h"
#include "imgfs/daemon/mount_point.h"
#include "imgfs/daemon/request_fields.h"
#include "imgfs/daemon/store_admin.h"
#include "imgfs/daemon/store_dir.h"
#include "tests/unit/daemon_test_util.h"

namespace imgfs {
namespace {

using testing::ScratchDir;

struct SocketPair {
  UniqueFd client, server;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    client.Reset(fds[0]);
    server.Reset(fds[1]);
  }
  void Send(const std::string& s) { ASSERT_TRUE(WriteFull(client.get(), s).ok()); }
};

TEST(ControlHttpTest, ReadsARequestAndKeepsTheBodyToItsLength) {
  SocketPair p;
  p.Send("POST /mount HTTP/1.0\r\nHost: x\r\ncontent-length:  7 \r\n\r\n{\"a\":1}trailing");
  auto req = control::ReadRequest(p.server.get(), {});
  ASSERT_TRUE(req.ok()) << req.status().message();
  EXPECT_EQ(req->method, "POST");
  EXPECT_EQ(req->path, "/mount");
  EXPECT_EQ(req->body, "{\"a\":1}");
}

TEST(ControlHttpTest, ARequestTricklingInByteByByteIsReadWhole) {
  SocketPair p;
  const std::string request = "POST /gc HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}";
  std::thread sender([&] {
    for (char c : request) ASSERT_TRUE(WriteFull(p.client.get(), std::string(1, c)).ok());
  });
  auto req = control::ReadRequest(p.server.get(), {});
  sender.join();
  ASSERT_TRUE(req.ok()) << req.status().message();
  EXPECT_EQ(req->path, "/gc");
  EXPECT_EQ(req->body, "{}");
}

TEST(ControlHttpTest, RefusesMalformedAndOversizedRequests) {
  {
    SocketPair p;
    p.Send("GET /stats HTTP/1.0\r\nContent-Length: lots\r\n\r\n");
    auto req = control::ReadRequest(p.server.get(), {});
    EXPECT_EQ(req.status().code(), Code::kInvalidArgument);
  }
  {
    SocketPair p;
    p.Send("GARBAGE\r\n\r\n");
    EXPECT_EQ(control::ReadRequest(p.server.get(), {}).status().code(), Code::kInvalidArgument);
  }
  {
    SocketPair p;
    control::ReadLimits limits;
    limits.max_body = 10;
    p.Send("POST /x HTTP/1.0\r\nContent-Length: 11\r\n\r\n");
    EXPECT_EQ(control::ReadRequest(p.server.get(), limits).status().code(),
              Code::kResourceExhausted);
  }
  {
    SocketPair p;
    control::ReadLimits limits;
    limits.max_header = 100;
    p.Send("GET /x HTTP/1.0\r\nX: " + std::string(200, 'a'));
    EXPECT_EQ(control::ReadRequest(p.server.get(), limits).status().code(),
              Code::kResourceExhausted);
  }
  {
    SocketPair p;  // the client hangs up half-way
    p.Send("POST /x HTTP/1.0\r\nContent-Length: 5\r\n\r\nab");
    p.client.Reset();
    EXPECT_EQ(control::ReadRequest(p.server.get(), {}).status().code(), Code::kInvalidArgument);
  }
}

TEST(ControlHttpTest, AClientThatStopsSendingIsCutOffAtTheDeadline) {
  SocketPair p;
  p.Send("POST /mount HTTP/1.0\r\nContent-Le");  // and nothing more, connection open
  control::ReadLimits limits;
  limits.deadline = std::chrono::milliseconds(50);
  auto req = control::ReadRequest(p.server.get(), limits);
  EXPECT_EQ(req.status().code(), Code::kUnavailable);
  EXPECT_EQ(control::ErrorResponse(req.status()).code, 408);
}

TEST(ControlHttpTest, ErrorCodes) {
  EXPECT_EQ(control::ErrorResponse(Status::InvalidArgument("x")).code, 400);
  EXPECT_EQ(control::ErrorResponse(Status::PermissionDenied("x")).code, 403);
  EXPECT_EQ(control::ErrorResponse(Status::NotFound("x")).code, 404);
  EXPECT_EQ(control::ErrorResponse(Status::AlreadyExists("x")).code, 409);
  EXPECT_EQ(control::ErrorResponse(Status::ResourceExhausted("x")).code, 413);
  EXPECT_EQ(control::ErrorResponse(Status::Unavailable("remote down")).code, 503);
  EXPECT_EQ(control::ErrorResponse(Status::IOError("x")).code, 500);
  EXPECT_EQ(control::ErrorResponse(Status::InvalidArgument("bad")).body, "{\"error\":\"bad\"}\n");
}

TEST(RequestFieldsTest, NumbersAreCheckedAgainstTheirBounds) {
  auto j = nlohmann::json::parse(
      R"({"ok": 5, "neg": -1, "float": 2.5, "str": "5", "big": 100000, "huge": 1e300, "null": null})");
  EXPECT_EQ(*daemon::UintField(j, "ok", 0, 1, 10), 5u);
  EXPECT_EQ(*daemon::UintField(j, "absent", 7, 1, 10), 7u);
  EXPECT_EQ(*daemon::UintField(j, "null", 7, 1, 10), 7u);
  for (const char* bad : {"neg", "float", "str", "big", "huge"}) {
    auto r = daemon::UintField(j, bad, 0, 1, 10);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(daemon::UintField(nlohmann::json::array(), "x", 0, 0, 1).status().code(),
            Code::kInvalidArgument);
}

TEST(StoreAdminBoundsTest, ConvertOptions) {
  indexer::ConvertOptions ok;
  EXPECT_TRUE(daemon::CheckConvertOptions(ok).ok());
  indexer::ConvertOptions o = ok;
  o.threads = 100000;
  EXPECT_FALSE(daemon::CheckConvertOptions(o).ok());
  o = ok;
  o.chunker.max_size = 0;  // looped until bad_alloc once
  EXPECT_FALSE(daemon::CheckConvertOptions(o).ok());
  o = ok;
  o.chunker.avg_size = 3000;
  EXPECT_FALSE(daemon::CheckConvertOptions(o).ok());
  o = ok;
  o.chunker.min_size = 0;
  EXPECT_FALSE(daemon::CheckConvertOptions(o).ok());
  o = ok;
  o.chunker.max_size = kMaxChunkSize + 1;
  EXPECT_FALSE(daemon::CheckConvertOptions(o).ok());
  o = ok;
  o.chunker = {1u << 20, 4u << 20, kMaxChunkSize};
  EXPECT_TRUE(daemon::CheckConvertOptions(o).ok());
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(StoreDirTest, CreatesPrivateWhateverTheUmaskAndTightensAnOpenOne) {
  ScratchDir dir;
  const std::string fresh = dir.path() + "/fresh";
  const mode_t old = ::umask(0);
  auto made = daemon::SecureStoreDir(fresh);
  ::umask(old);
  ASSERT_TRUE(made.ok()) << made.status().message();
  EXPECT_EQ(*made, ::geteuid());
  EXPECT_EQ(ModeOf(fresh), 0700u);

  const std::string open = dir.path() + "/open";
  ASSERT_EQ(::mkdir(open.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(open.c_str(), 0755), 0);
  ASSERT_TRUE(daemon::SecureStoreDir(open).ok());
  EXPECT_EQ(ModeOf(open), 0700u);

  const std::string file = dir.path() + "/file";
  std::ofstream(file) << "x";
  EXPECT_FALSE(daemon::SecureStoreDir(file).ok());
}

TEST(StoreDirTest, RefusesAStoreOwnedBySomeoneElse) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  ScratchDir dir;
  const std::string theirs = dir.path() + "/theirs";
  ASSERT_EQ(::mkdir(theirs.c_str(), 0755), 0);
  ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
  auto r = daemon::SecureStoreDir(theirs);
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  EXPECT_NE(r.status().message().find("owned by uid 65534"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(ModeOf(theirs), 0755u);  // left as it was
}

TEST(MountPointTest, ResolvesDirectoriesOnly) {
  ScratchDir dir;
  EXPECT_EQ(daemon::ResolveMountPoint("relative/path").status().code(), Code::kInvalidArgument);
  std::ofstream(dir.path() + "/file") << "x";
  EXPECT_EQ(daemon::ResolveMountPoint(dir.path() + "/file").status().code(),
            Code::kInvalidArgument);
  EXPECT_FALSE(daemon::ResolveMountPoint(dir.path() + "/missing").ok());
  ASSERT_EQ(::mkdir((dir.path() + "/d").c_str(), 0755), 0);
  ASSERT_EQ(::symlink((dir.path() + "/d").c_str(), (dir.path() + "/link").c_str()), 0);
  auto mp = daemon::ResolveMountPoint(dir.path() + "/link");
  ASSERT_TRUE(mp.ok()) << mp.status().message();
  EXPECT_EQ(mp->path, std::filesystem::canonical(dir.path() + "/d").string());
  EXPECT_FALSE(mp->dead);
  EXPECT_EQ(daemon::MountTypeAt("/proc"), "proc");
  EXPECT_EQ(daemon::MountTypeAt(dir.path() + "/d"), "");
}

// A control server on a socket in a scratch dir, its main loop on a thread.
class ServerHarness {
 public:
  explicit ServerHarness(std::vector<control::Route> routes, size_t max_connections = 8) {
    control::ServerOptions options;
    options.socket_path = dir_.path() + "/s.sock";
    options.owner = ::geteuid();
    options.max_connections = max_connections;
    options.limits.deadline = std::chrono::seconds(30);
    auto server = control::Server::Listen(options, std::move(routes));
    EXPECT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(server).value();
    path_ = options.socket_path;
    loop_ = std::thread([this] {
      while (!stop_) {
        pollfd p{server_->fd(), POLLIN, 0};
        if (::poll(&p, 1, 20) > 0) server_->AcceptOne();
      }
    });
  }
  ~ServerHarness() {
    stop_ = true;
    loop_.join();
  }
  const std::string& path() const { return path_; }
  mode_t socket_mode() const { return ModeOf(path_); }

  UniqueFd Connect() const {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  }
  std::string Ask(const std::string& request) const {
    UniqueFd fd = Connect();
    EXPECT_TRUE(WriteFull(fd.get(), request).ok());
    return ReadAll(fd.get());
  }
  static std::string ReadAll(int fd) {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  ScratchDir dir_;
  std::string path_;
  std::unique_ptr<control::Server> server_;
  std::atomic<bool> stop_{false};
  std::thread loop_;
};

TEST(ControlServerTest, RoutesAnswersAndErrors) {
  ServerHarness h({{"GET", "/hello",
                    [](const nlohmann::json&) -> Result<control::Response> {
                      return control::Response{200, "text/plain", "hi"};
                    }},
                   {"POST", "/typed", [](const nlohmann::json& b) -> Result<control::Response> {
                      return control::Response{200, "text/plain", b.value("name", "")};
                    }}});
  EXPECT_EQ(h.socket_mode(), 0600u);
  EXPECT_NE(h.Ask("GET /hello HTTP/1.0\r\n\r\n").find("HTTP/1.0 200 OK"), std::string::npos);
  EXPECT_NE(h.Ask("GET /nothing HTTP/1.0\r\n\r\n").find("HTTP/1.0 404"), std::string::npos);
  EXPECT_NE(h.Ask("POST /hello HTTP/1.0\r\n\r\n").find("HTTP/1.0 404"), std::string::npos);
  // A field of the wrong type throws in the handler: 400, and the server goes on.
  std::string r = h.Ask("POST /typed HTTP/1.0\r\nContent-Length: 10\r\n\r\n{\"name\":1}");
  EXPECT_NE(r.find("HTTP/1.0 400"), std::string::npos) << r;
  r = h.Ask("POST /typed HTTP/1.0\r\nContent-Length: 5\r\n\r\n{nope");
  EXPECT_NE(r.find("not JSON"), std::string::npos) << r;
  EXPECT_NE(h.Ask("GET /hello HTTP/1.0\r\n\r\n").find("200 OK"), std::string::npos);
}

TEST(ControlServerTest, ASlowClientOrASlowHandlerDoesNotDelayOthers) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false, entered = false;
  ServerHarness h(
      {{"GET", "/fast",
        [](const nlohmann::json&) -> Result<control::Response> { return control::Response{}; }},
       {"POST", "/slow", [&](const nlohmann::json&) -> Result<control::Response> {
          std::unique_lock<std::mutex> lock(mu);
          entered = true;
          cv.notify_all();
          cv.wait(lock, [&] { return release; });
          return control::Response{};
        }}});
  // A client that sent part of a request and stays connected.
  UniqueFd slow_client = h.Connect();
  ASSERT_TRUE(WriteFull(slow_client.get(), std::string("GET /fa")).ok());
  // A handler that blocks (a mount waiting on a remote).
  std::string slow_reply;
  std::thread slow_handler([&] { slow_reply = h.Ask("POST /slow HTTP/1.0\r\n\r\n"); });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return entered; });
  }
  EXPECT_NE(h.Ask("GET /fast HTTP/1.0\r\n\r\n").find("200 OK"), std::string::npos);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  slow_handler.join();
  EXPECT_NE(slow_reply.find("200 OK"), std::string::npos);
  ASSERT_TRUE(WriteFull(slow_client.get(), std::string("st HTTP/1.0\r\n\r\n")).ok());
  EXPECT_NE(ServerHarness::ReadAll(slow_client.get()).find("200 OK"), std::string::npos);
}

TEST(ControlServerTest, BeyondTheConnectionLimitCallersGet503) {
  ServerHarness h(
      {{"GET", "/x",
        [](const nlohmann::json&) -> Result<control::Response> { return control::Response{}; }}},
      /*max_connections=*/1);
  UniqueFd hog = h.Connect();
  ASSERT_TRUE(WriteFull(hog.get(), std::string("G")).ok());
  // The hog holds the one slot until it is answered; the next caller is turned away at once.
  std::string r;
  for (int i = 0; i < 200 && r.find("503") == std::string::npos; ++i)
    r = h.Ask("GET /x HTTP/1.0\r\n\r\n");
  EXPECT_NE(r.find("HTTP/1.0 503"), std::string::npos) << r;
  ASSERT_TRUE(WriteFull(hog.get(), std::string("ET /x HTTP/1.0\r\n\r\n")).ok());
  EXPECT_NE(ServerHarness::ReadAll(hog.get()).find("200 OK"), std::string::npos);
}

TEST(ControlServerTest, OutOfDescriptorsCallersGet503AndTheLoopGoesOn) {
#ifdef IMGFS_SANITIZED
  // UBSan's vptr check needs a pipe to test memory, so with every descriptor taken it reports
  // false errors anywhere in the process; the unsanitized build runs this test.
  GTEST_SKIP() << "needs free descriptors under UBSan";
#endif
  ServerHarness h({{"GET", "/x", [](const nlohmann::json&) -> Result<control::Response> {
                      return control::Response{};
                    }}});
  // The caller's socket first (connect needs no new descriptor), then every descriptor taken
  // under a low soft limit, so the server's accept() fails with EMFILE.
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, h.path().c_str());
  UniqueFd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval timeout{10, 0};  // without the reserve descriptor no answer ever comes: fail, not hang
  ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<UniqueFd> hogs;
  for (UniqueFd fd; (fd = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC))).valid();)
    hogs.push_back(std::move(fd));
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  // The refusal may come (and the server hang up) before the request is written: the write may
  // then fail with EPIPE, as imgfs's client sees it (SIGPIPE ignored, as imgfs does).
  std::signal(SIGPIPE, SIG_IGN);
  (void)WriteFull(client.get(), std::string("GET /x HTTP/1.0\r\n\r\n"));
  std::string r = ServerHarness::ReadAll(client.get());
  hogs.clear();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_NE(r.find("HTTP/1.0 503"), std::string::npos) << r;
  EXPECT_NE(r.find("file descriptors"), std::string::npos) << r;
  EXPECT_NE(h.Ask("GET /x HTTP/1.0\r\n\r\n").find("200 OK"), std::string::npos);
}

// In a child that is not root (root ignores RLIMIT_NPROC) and may start almost no threads:
// the pool starts what it can, runs every task, and does not abort.
TEST(ThreadPoolTest, ThreadsThatCannotStartAreAnErrorNotAnAbort) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to uid 65534";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit lim{2, 2};
    if (::setgid(65534) != 0 || ::setuid(65534) != 0 || ::setrlimit(RLIMIT_NPROC, &lim) != 0)
      ::_exit(3);
    std::atomic<int> ran{0};
    unsigned started;
    {
      ThreadPool pool(100000);
      started = pool.size();
      for (int i = 0; i < 100; ++i) pool.Submit([&ran] { ran++; });
      pool.Wait();
    }
    ::_exit(ran == 100 && started < 100000 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace imgfs
