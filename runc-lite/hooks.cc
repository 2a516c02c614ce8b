#include "runc-lite/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fd.h"
#include "runc-lite/init_plan.h"
#include "runc-lite/interrupt.h"

namespace imgfs::runc {
namespace {

Status RunOne(const Hook& hook, const std::string& state_json, int ns_pid, int interrupt_fd) {
  Arena arena;
  char* const* argv =
      arena.Argv(hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args);
  // Without "env" a hook gets the runtime's environment, as runc passes its own.
  char* const* envp = hook.env_set ? arena.Argv(hook.env) : environ;
  const char* path = arena.Str(hook.path);
  std::vector<UniqueFd> ns_fds;
  std::vector<int> ns_types;
  if (ns_pid > 0) {
    static const std::pair<const char*, int> kNs[] = {
        {"net", CLONE_NEWNET}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"mnt", CLONE_NEWNS}};
    for (const auto& [name, type] : kNs) {
      ASSIGN_OR_RETURN(UniqueFd fd,
                       OpenFile("/proc/" + std::to_string(ns_pid) + "/ns/" + name, O_RDONLY));
      ns_types.push_back(type);
      ns_fds.push_back(std::move(fd));
    }
  }
  int pfd[2];
  if (::pipe2(pfd, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe2");
  UniqueFd rd(pfd[0]), wr(pfd[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) {
    // A hook starts with no blocked signal and SIGPIPE at its default, whatever the runtime set.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    for (size_t i = 0; i < ns_fds.size(); ++i)
      if (::setns(ns_fds[i].get(), ns_types[i]) != 0) ::_exit(126);
    if (::dup3(rd.get(), 0, 0) < 0) ::_exit(126);
    ::execve(path, argv, envp);
    ::_exit(127);
  }
  rd.Reset();
  // The hook may not read its stdin: ignore EPIPE.
  signal(SIGPIPE, SIG_IGN);
  (void)WriteFull(wr.get(), state_json);
  wr.Reset();
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  UniqueFd pidfd_owner(pidfd);
  if (pidfd >= 0 && (hook.timeout || interrupt_fd >= 0)) {
    pollfd p[2] = {{pidfd, POLLIN, 0}, {interrupt_fd, POLLIN, 0}};
    int rc = RetryOnEintr([&] {
      return ::poll(p, interrupt_fd >= 0 ? 2 : 1, hook.timeout ? *hook.timeout * 1000 : -1);
    });
    int sig = (rc > 0 && (p[1].revents & POLLIN)) ? ReadPendingSignal(interrupt_fd) : 0;
    if (rc == 0 || sig != 0) {
      ::kill(pid, SIGKILL);
      RetryOnEintr([&] { return ::waitpid(pid, nullptr, 0); });
      if (sig != 0) return InterruptedBy(sig).WithContext("hook " + hook.path);
      return Status::Unavailable("hook " + hook.path + " timed out after " +
                                 std::to_string(*hook.timeout) + "s");
    }
  }
  int status = 0;
  if (RetryOnEintr([&] { return ::waitpid(pid, &status, 0); }) < 0)
    return Status::FromErrno(errno, "waitpid hook");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  if (WIFEXITED(status))
    return Status::Internal("hook " + hook.path + " exited with status " +
                            std::to_string(WEXITSTATUS(status)));
  return Status::Internal("hook " + hook.path + " killed by signal " +
                          std::to_string(WTERMSIG(status)));
}

}  // namespace

Status RunHooks(const std::vector<Hook>& hooks, const std::string& state_json, int ns_pid,
                int interrupt_fd) {
  for (const Hook& h : hooks) RETURN_IF_ERROR(RunOne(h, state_json, ns_pid, interrupt_fd));
  return Status::Ok();
}

}  // namespace imgfs::runc
