// runc-lite create [command options] <container-id>
#include <climits>
#include <cstdlib>

#include "runc-lite/command.h"
#include "runc-lite/container.h"

namespace imgfs::runc {

void DeclareCreateFlags(FlagSet& f) {
  f.String("bundle", ".", {"b"}, "path to the root of the bundle directory");
  f.String("pid-file", "", {}, "file to write the container's init pid to");
  f.String("console-socket", "", {},
           "AF_UNIX socket that receives the master side of the container's pty");
  f.String("pidfd-socket", "", {}, "accepted for runc compatibility; not supported");
  f.Bool("no-pivot", {}, "do not use pivot_root (MS_MOVE + chroot instead)");
  f.Bool("no-new-keyring", {}, "accepted for runc compatibility");
  f.String("preserve-fds", "0", {}, "pass N more fds (3..3+N-1) to the container");
  f.String("cdi-root", "/", {},
           "read CDI specs from DIR/etc/cdi and DIR/var/run/cdi (a fake driver tree in tests)");
}

Result<CreateOptions> CreateOptionsFromFlags(const CommandContext& c) {
  CreateOptions o;
  o.id = c.args[0];
  ASSIGN_OR_RETURN(std::string bundle, AbsolutePath(c.flags.GetString("bundle")));
  char real[PATH_MAX];
  o.bundle = ::realpath(bundle.c_str(), real) ? real : bundle;
  if (!c.flags.GetString("pid-file").empty()) {
    ASSIGN_OR_RETURN(o.pid_file, AbsolutePath(c.flags.GetString("pid-file")));
  }
  o.console_socket = c.flags.GetString("console-socket");
  o.no_pivot = c.flags.GetBool("no-pivot");
  ASSIGN_OR_RETURN(uint64_t preserve, c.flags.GetUint64("preserve-fds", 0, kMaxPreserveFds));
  o.preserve_fds = static_cast<int>(preserve);
  ASSIGN_OR_RETURN(o.cdi_root, AbsolutePath(c.flags.GetString("cdi-root")));
  return o;
}

namespace {

Result<int> Create(const CommandContext& c) {
  ASSIGN_OR_RETURN(CreateOptions o, CreateOptionsFromFlags(c));
  ASSIGN_OR_RETURN(int pid, CreateContainer(c.store, o));
  (void)pid;
  return 0;
}

}  // namespace

const Command kCreateCommand = {"create",
                                "create [command options] <container-id>",
                                "create a container",
                                1,
                                DeclareCreateFlags,
                                Create};

}  // namespace imgfs::runc
