// imgfs-delay-proxy: a TCP proxy that holds every byte for DELAY_MS in each direction, keeping
// order and throughput, as netem's delay would. coldstart-bench and registry_startup.py put it in
// front of the servers on kernels without sch_netem (the veth's token bucket sets the rate). The
// same as tools/bench/delay_proxy.py, which they fall back to, at a fifth of its CPU: the Python
// one took ~26 ms of CPU per 17 MB, on the two cores the client under test also needs.
// Not a test. One thread, epoll, any number of connections.
//
//   imgfs-delay-proxy LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS   (listens on 127.0.0.1)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadSize = 256 << 10;
constexpr size_t kMaxQueued = 8 << 20;  // per direction: stop reading beyond this

struct Chunk {
  Clock::time_point due;
  std::string bytes;  // empty: the end of the stream
  size_t sent = 0;
};

// One direction of a connection: bytes read from `from`, written to `to` once due.
struct Pipe {
  int from = -1, to = -1;
  std::deque<Chunk> queue;
  size_t queued = 0;
  bool read_done = false, write_done = false;
  bool blocked = false;  // the last write found `to` full: wait for EPOLLOUT
};

struct Conn {
  Pipe up, down;  // client -> server, server -> client
  int client = -1, server = -1;
  uint32_t watched[2] = {0, 0};  // the events the client's and the server's socket wait for
  bool dead = false;
};

int epfd = -1;
std::chrono::nanoseconds delay;

void Fail(const char* what) {
  std::fprintf(stderr, "imgfs-delay-proxy: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// Watches socket FD of C for what it is waiting for now (a system call only when that changed).
// Its epoll data is the pipe reading it.
void Watch(Conn* c, int fd, int op) {
  epoll_event e{};
  for (Pipe* p : {&c->up, &c->down}) {
    if (p->from == fd && !p->read_done && p->queued < kMaxQueued) e.events |= EPOLLIN;
    if (p->to == fd && p->blocked) e.events |= EPOLLOUT;
  }
  uint32_t& watched = c->watched[fd == c->client ? 0 : 1];
  if (op == EPOLL_CTL_MOD && e.events == watched) return;
  watched = e.events;
  e.data.ptr = fd == c->client ? &c->up : &c->down;
  epoll_ctl(epfd, op, fd, &e);
}

// Writes what is due; false when the connection failed.
bool Flush(Pipe& p) {
  auto now = Clock::now();
  while (!p.queue.empty() && p.queue.front().due <= now) {
    Chunk& c = p.queue.front();
    if (c.bytes.empty()) {
      ::shutdown(p.to, SHUT_WR);
      p.write_done = true;
      p.queue.pop_front();
      continue;
    }
    ssize_t n = ::send(p.to, c.bytes.data() + c.sent, c.bytes.size() - c.sent, MSG_NOSIGNAL);
    p.blocked = n < 0 && errno == EAGAIN;
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    c.sent += static_cast<size_t>(n);
    if (c.sent < c.bytes.size()) continue;
    p.queued -= c.bytes.size();
    p.queue.pop_front();
  }
  return true;
}

// Reads what is there, each piece due DELAY from now; false when the connection failed.
bool Fill(Pipe& p) {
  static char buf[kReadSize];
  while (!p.read_done && p.queued < kMaxQueued) {
    ssize_t n = ::recv(p.from, buf, sizeof buf, 0);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    if (n == 0) p.read_done = true;
    p.queued += static_cast<size_t>(n);
    p.queue.push_back({Clock::now() + delay, std::string(buf, static_cast<size_t>(n)), 0});
  }
  return true;
}

void Close(Conn* c) {
  c->dead = true;
  for (int fd : {c->client, c->server}) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
  }
}

void Accept(int listener, const addrinfo* target, std::vector<std::unique_ptr<Conn>>& conns) {
  for (;;) {
    int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    int server = ::socket(target->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (server < 0 || ::connect(server, target->ai_addr, target->ai_addrlen) != 0) {
      if (server >= 0) ::close(server);
      ::close(client);
      continue;
    }
    auto c = std::make_unique<Conn>();
    c->client = client;
    c->server = server;
    c->up.from = c->down.to = client;
    c->up.to = c->down.from = server;
    for (int fd : {client, server}) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      Watch(c.get(), fd, EPOLL_CTL_ADD);
    }
    conns.push_back(std::move(c));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: imgfs-delay-proxy LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  delay = std::chrono::nanoseconds(static_cast<int64_t>(std::atof(argv[4]) * 1e6));
  addrinfo hints{}, *target = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(argv[2], argv[3], &hints, &target) != 0 || !target) {
    std::fprintf(stderr, "imgfs-delay-proxy: cannot resolve %s:%s\n", argv[2], argv[3]);
    return 1;
  }
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Fail("bind");
  if (::listen(listener, 256) != 0) Fail("listen");
  epfd = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event le{};
  le.events = EPOLLIN;
  le.data.ptr = nullptr;
  epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &le);

  std::vector<std::unique_ptr<Conn>> conns;
  for (;;) {
    // Sleep until the next piece is due (to the microsecond: the delay is ~0.5 ms) or an event.
    auto wait = std::chrono::nanoseconds::max();
    auto now = Clock::now();
    for (auto& c : conns)
      for (Pipe* p : {&c->up, &c->down})
        if (!p->queue.empty() && !p->blocked)
          wait = std::min(wait, std::max(std::chrono::nanoseconds(0), p->queue.front().due - now));
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(wait.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(wait.count() % 1000000000);
    epoll_event events[64];
    int n = ::epoll_pwait2(epfd, events, 64,
                           wait == std::chrono::nanoseconds::max() ? nullptr : &ts, nullptr);
    if (n < 0 && errno != EINTR) Fail("epoll_wait");
    for (int i = 0; i < n; ++i) {
      if (!events[i].data.ptr) {
        Accept(listener, target, conns);
        continue;
      }
      Pipe* reading = static_cast<Pipe*>(events[i].data.ptr);
      for (auto& c : conns) {
        if (c->dead || (reading != &c->up && reading != &c->down)) continue;
        Pipe* writing = reading == &c->up ? &c->down : &c->up;  // writes to this socket
        bool ok = true;
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ok = Fill(*reading);
        if (ok && (events[i].events & EPOLLOUT)) ok = Flush(*writing);
        if (!ok) Close(c.get());
        break;
      }
    }
    // Write what became due; drop finished connections.
    for (auto& c : conns) {
      if (c->dead) continue;
      if (!Flush(c->up) || !Flush(c->down) || (c->up.write_done && c->down.write_done)) {
        Close(c.get());
        continue;
      }
      Watch(c.get(), c->client, EPOLL_CTL_MOD);
      Watch(c.get(), c->server, EPOLL_CTL_MOD);
    }
    std::erase_if(conns, [](const std::unique_ptr<Conn>& c) { return c->dead; });
  }
}
