#include "imgfs/daemon/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <map>
#include <string_view>

#include "core/log.h"
#include "imgfs/daemon/fd_message.h"

namespace imgfs::daemon {
namespace {

struct Held {
  nlohmann::json record;
  UniqueFd fuse_fd;
};

struct Worker {
  pid_t pid = -1;
  UniqueFd sock;
};

// Starts PROGRAM with `args` and "--supervised-by FD" (and "--ready-fd N" when ready >= 0).
Result<Worker> StartWorker(const std::string& program, const std::vector<std::string>& args,
                           int ready, const sigset_t& old_mask) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return Status::FromErrno(errno, "socketpair");
  UniqueFd ours(pair[0]), theirs(pair[1]);
  std::vector<std::string> argv_s(args.begin(), args.begin() + std::min<size_t>(2, args.size()));
  argv_s.push_back(kSupervisedByFlag);
  argv_s.push_back(std::to_string(theirs.get()));
  if (args.size() > 2) argv_s.insert(argv_s.end(), args.begin() + 2, args.end());
  if (ready >= 0) argv_s.insert(argv_s.end(), {"--ready-fd", std::to_string(ready)});
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) {  // async-signal-safe calls only
    ::fcntl(theirs.get(), F_SETFD, 0);
    if (ready >= 0) ::fcntl(ready, F_SETFD, 0);
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  return Worker{pid, std::move(ours)};
}

std::string Describe(int status) {
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

// What the worker said about its end.
struct Intent {
  bool exit = false;     // exiting on purpose
  bool restart = false;  // to be replaced by the installed binary (an upgrade)
};

// The path this program was started from, where an upgrade installs the new binary.
std::string InstalledPath() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  std::string path(buf, static_cast<size_t>(n));
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.size() > kDeleted.size() && path.ends_with(kDeleted))
    path.resize(path.size() - kDeleted.size());
  return path;
}

// Applies one message of the worker to `held`, `listener` and `intent`.
void Apply(FdMessage msg, std::map<uint64_t, Held>* held, UniqueFd* listener, Intent* intent) {
  nlohmann::json j = nlohmann::json::parse(msg.text, nullptr, false);
  const std::string op = j.is_object() ? j.value("op", "") : "";
  const uint64_t id = j.is_object() && j.contains("id") && j["id"].is_number_unsigned()
                          ? j["id"].get<uint64_t>()
                          : 0;
  if (op == "hold" && id && msg.fd.valid()) {
    (*held)[id] = Held{j.value("record", nlohmann::json::object()), std::move(msg.fd)};
  } else if (op == "listener" && msg.fd.valid()) {
    *listener = std::move(msg.fd);
  } else if (op == "release" && id) {
    held->erase(id);
  } else if (op == "exit") {
    intent->exit = true;
  } else if (op == "restart") {
    intent->restart = true;
  } else {
    IMGFS_LOG(Warning) << "supervisor: ignoring a message it does not understand";
  }
}

}  // namespace

int RunSupervisor(SupervisorOptions options) {
  sigset_t signals, old_mask;
  sigemptyset(&signals);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  ::sigprocmask(SIG_BLOCK, &signals, &old_mask);
  UniqueFd sigfd(::signalfd(-1, &signals, SFD_CLOEXEC));
  if (!sigfd.valid()) {
    IMGFS_LOG(Error) << "supervisor: signalfd: " << std::strerror(errno);
    return 1;
  }
  UniqueFd ready(options.ready_fd);
  // The first worker runs this very program, a crashed one is replaced by the program it ran,
  // and an upgrade starts what is installed at this program's path now.
  const std::string installed = InstalledPath();
  std::string program = "/proc/self/exe";
  std::map<uint64_t, Held> held;
  UniqueFd listener;  // the worker's control socket, kept across its restarts
  std::deque<std::chrono::steady_clock::time_point> crashes;
  unsigned restarts = 0;
  bool stopping = false;
  bool handed_over = false;  // the last worker ended on purpose (an upgrade), not by a crash
  for (;;) {
    auto started = StartWorker(program, options.worker_args, ready.get(), old_mask);
    ready.Reset();  // the first worker has it; later ones were not waited for
    if (!started.ok()) {
      IMGFS_LOG(Error) << "supervisor: cannot start the daemon: " << started.status().message();
      return 1;
    }
    Worker worker = std::move(started).value();
    uint64_t next_id = held.empty() ? 1 : held.rbegin()->first + 1;
    for (auto& [id, h] : held) {
      nlohmann::json take = {{"op", "take"}, {"id", id}, {"record", h.record}};
      if (Status s = SendFdMessage(worker.sock.get(), take.dump(), h.fuse_fd.get()); !s.ok())
        IMGFS_LOG(Warning) << "supervisor: handing a mount over: " << s.message();
    }
    if (listener.valid())
      (void)SendFdMessage(worker.sock.get(), R"({"op":"listener"})", listener.get());
    nlohmann::json hello = {
        {"op", "ready"}, {"restarts", restarts}, {"next_id", next_id}, {"upgrade", handed_over}};
    (void)SendFdMessage(worker.sock.get(), hello.dump());

    Intent intent;
    bool sock_open = true;
    int status = 0;
    for (bool running = true; running;) {
      pollfd fds[2] = {{sigfd.get(), POLLIN, 0}, {sock_open ? worker.sock.get() : -1, POLLIN, 0}};
      if (RetryOnEintr([&] { return ::poll(fds, 2, -1); }) < 0) continue;
      if (fds[1].revents) {
        auto msg = ReceiveFdMessage(worker.sock.get());
        if (msg.ok()) {
          Apply(std::move(msg).value(), &held, &listener, &intent);
        } else {
          sock_open = false;  // the worker is gone or going: wait for SIGCHLD
        }
      }
      if (fds[0].revents & POLLIN) {
        signalfd_siginfo info;
        if (::read(sigfd.get(), &info, sizeof info) != sizeof info) continue;
        if (info.ssi_signo != SIGCHLD) {
          stopping = true;
          ::kill(worker.pid, static_cast<int>(info.ssi_signo));
          continue;
        }
        if (::waitpid(worker.pid, &status, WNOHANG) == worker.pid) running = false;
      }
    }
    // What the worker sent just before it ended is still queued.
    for (;;) {
      pollfd p = {worker.sock.get(), POLLIN, 0};
      if (!sock_open || ::poll(&p, 1, 0) != 1) break;
      auto msg = ReceiveFdMessage(worker.sock.get());
      if (!msg.ok()) break;
      Apply(std::move(msg).value(), &held, &listener, &intent);
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (intent.exit || stopping) return code;
    ++restarts;
    if (intent.restart && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      IMGFS_LOG(Info) << "supervisor: the daemon (pid " << worker.pid << ") handed over; starting "
                      << installed << " with " << held.size() << " mount(s)";
      program = installed;
      handed_over = true;
      continue;
    }
    handed_over = false;  // (a crashed worker is replaced by the program it ran)
    if (!WIFSIGNALED(status) && held.empty()) return code;
    const auto now = std::chrono::steady_clock::now();
    crashes.push_back(now);
    while (!crashes.empty() && now - crashes.front() > options.restart_window) crashes.pop_front();
    if (crashes.size() > options.max_restarts) {
      IMGFS_LOG(Error) << "supervisor: the daemon (pid " << worker.pid << ") " << Describe(status)
                       << ", " << crashes.size() << " times within "
                       << options.restart_window.count() << " s; giving up, " << held.size()
                       << " mount(s) become dead";
      return 1;
    }
    IMGFS_LOG(Warning) << "supervisor: the daemon (pid " << worker.pid << ") " << Describe(status)
                       << "; restarting it with " << held.size() << " mount(s)";
  }
}

Result<std::unique_ptr<SupervisorLink>> SupervisorLink::Connect(int fd) {
  std::unique_ptr<SupervisorLink> link(new SupervisorLink(UniqueFd(fd)));
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  for (;;) {
    ASSIGN_OR_RETURN(FdMessage msg, ReceiveFdMessage(fd));
    nlohmann::json j = nlohmann::json::parse(msg.text, nullptr, false);
    const std::string op = j.is_object() ? j.value("op", "") : "";
    if (op == "ready") {
      link->restarts_ = j.value("restarts", 0u);
      link->upgrade_ = j.value("upgrade", false);
      link->next_id_ = std::max<uint64_t>(1, j.value("next_id", uint64_t{1}));
      return link;
    }
    if (op == "listener" && msg.fd.valid()) {
      link->listener_ = std::move(msg.fd);
      continue;
    }
    if (op != "take" || !msg.fd.valid() || !j.contains("id") || !j["id"].is_number_unsigned())
      return Status::IOError("the supervisor sent a message this daemon does not understand");
    link->handed_.push_back(
        {j["id"].get<uint64_t>(), j.value("record", nlohmann::json::object()), std::move(msg.fd)});
  }
}

std::vector<SupervisorLink::Handed> SupervisorLink::TakeHanded() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::move(handed_);
}

UniqueFd SupervisorLink::TakeListener() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::move(listener_);
}

void SupervisorLink::HoldListener(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  (void)SendFdMessage(sock_.get(), R"({"op":"listener"})", fd);
}

Result<uint64_t> SupervisorLink::Hold(const nlohmann::json& record, int fuse_fd) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_id_++;
  nlohmann::json msg = {{"op", "hold"}, {"id", id}, {"record", record}};
  RETURN_IF_ERROR(SendFdMessage(sock_.get(), msg.dump(), fuse_fd));
  return id;
}

void SupervisorLink::Release(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json msg = {{"op", "release"}, {"id", id}};
  (void)SendFdMessage(sock_.get(), msg.dump());
}

Status SupervisorLink::RequestRestart() {
  std::lock_guard<std::mutex> lock(mu_);
  return SendFdMessage(sock_.get(), R"({"op":"restart"})");
}

void SupervisorLink::AnnounceExit() {
  std::lock_guard<std::mutex> lock(mu_);
  (void)SendFdMessage(sock_.get(), R"({"op":"exit"})");
}

}  // namespace imgfs::daemon
