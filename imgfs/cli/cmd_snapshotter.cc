// imgfs snapshotter ARGS: runs imgfs-snapshotter ARGS in this process. The snapshotter is a
// program of its own (imgfs/cli/snapshotter/) because it alone needs gRPC, protobuf and abseil,
// whose ~40 shared libraries would cost every imgfs command ~10 ms of dynamic loading at start.
// It is found beside this program (an installation, or BUILD/imgfs/), else in PATH; an exec keeps
// the process, so whoever started `imgfs snapshotter` (systemd, a test) signals the snapshotter.
#include <errno.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "imgfs/cli/commands.h"
#include "imgfs/cli/programs.h"

namespace imgfs::cli {

Result<int> ExecSnapshotter(const ArgList& argv) {
  static constexpr char kProgram[] = "imgfs-snapshotter";
  std::vector<std::string> args = {kProgram};
  args.insert(args.end(), argv.begin(), argv.end());
  std::vector<char*> exec_argv;
  for (std::string& a : args) exec_argv.push_back(a.data());
  exec_argv.push_back(nullptr);
  if (std::optional<std::string> beside = SiblingProgram(kProgram))
    ::execv(beside->c_str(), exec_argv.data());
  ::execvp(kProgram, exec_argv.data());
  if (errno == ENOENT)
    return Status::Unimplemented(
        "this imgfs was built without gRPC: no snapshotter (imgfs-snapshotter is neither beside "
        "imgfs nor in PATH)");
  return Status::FromErrno(errno, std::string("exec ") + kProgram);
}

}  // namespace imgfs::cli
