// runc-lite exec [command options] <container-id> <command> [args...]
#include "runc-lite/command.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

void Declare(FlagSet& f) {
  f.String("console-socket", "", {}, "AF_UNIX socket that receives the pty master");
  f.String("pidfd-socket", "", {}, "accepted for runc compatibility; not supported");
  f.String("cwd", "", {}, "working directory inside the container");
  f.List("env", {"e"}, "set an environment variable (K=V)");
  f.Bool("tty", {"t"}, "allocate a pseudo-TTY");
  f.String("user", "", {"u"},
           "USER[:GROUP], names or numbers (the container's /etc/passwd, /etc/group)");
  f.List("additional-gids", {"g"}, "accepted and ignored");
  f.String("process", "", {"p"}, "path to a process.json (instead of the command)");
  f.Bool("detach", {"d"}, "detach from the process");
  f.String("pid-file", "", {}, "file to write the process's pid to");
  f.String("process-label", "", {}, "accepted and ignored");
  f.String("apparmor", "", {}, "accepted and ignored");
  f.Bool("no-new-privs", {}, "accepted and ignored");
  f.List("cap", {"c"}, "add a capability (bounding, effective, permitted)");
  f.String("preserve-fds", "0", {}, "pass N more fds (3..3+N-1) to the process");
  f.List("cgroup", {}, "accepted and ignored");
  f.Bool("ignore-paused", {}, "accepted and ignored");
}

Result<int> Exec(const CommandContext& c) {
  ExecOptions o;
  o.id = c.args[0];
  o.args.assign(c.args.begin() + 1, c.args.end());
  o.process_file = c.flags.GetString("process");
  o.env = c.flags.GetList("env");
  o.caps = c.flags.GetList("cap");
  o.cwd = c.flags.GetString("cwd");
  o.user = c.flags.GetString("user");
  o.tty = c.flags.GetBool("tty");
  o.detach = c.flags.GetBool("detach");
  if (!c.flags.GetString("pid-file").empty()) {
    ASSIGN_OR_RETURN(o.pid_file, AbsolutePath(c.flags.GetString("pid-file")));
  }
  o.console_socket = c.flags.GetString("console-socket");
  ASSIGN_OR_RETURN(uint64_t preserve, c.flags.GetUint64("preserve-fds", 0, kMaxPreserveFds));
  o.preserve_fds = static_cast<int>(preserve);
  return ExecInContainer(c.store, o);
}

}  // namespace

const Command kExecCommand = {"exec",
                              "exec [command options] <container-id> <command> [args...]",
                              "run a new process inside a container",
                              1,
                              Declare,
                              Exec};

}  // namespace imgfs::runc
