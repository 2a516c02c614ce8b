// imgfs-snapshotter: containerd's remote snapshotter, the `imgfs snapshotter` command as a
// program of its own, which alone links gRPC (imgfs execs it; see imgfs/cli/cmd_snapshotter.cc).
// Its arguments, configuration and messages are those of `imgfs snapshotter`.
#include <csignal>
#include <cstdio>
#include <string>

#include "core/version.h"
#include "imgfs/cli/command_main.h"
#include "imgfs/cli/programs.h"
#include "imgfs/cli/snapshotter/cmd_snapshotter.h"
#include "imgfs/cli/usage.h"

int main(int argc, char** argv) {
  // Writes to a daemon that went away (its socket) are errors we report.
  std::signal(SIGPIPE, SIG_IGN);
  imgfs::cli::ArgList args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--version") {
    std::printf("imgfs-snapshotter %s (commit %s)\n", imgfs::kVersion, imgfs::kGitCommit);
    return 0;
  }
  if (imgfs::cli::PrintHelpIfAsked("snapshotter", imgfs::cli::kSnapshotterUsage, args)) return 0;
  // The store's daemon is `imgfs daemon`, from the imgfs installed beside this program.
  imgfs::cli::SetImgfsProgram(imgfs::cli::SiblingProgram("imgfs").value_or("imgfs"));
  return imgfs::cli::RunCommand("snapshotter", imgfs::cli::RunSnapshotter, std::move(args),
                                imgfs::cli::ConfigSource::kArgs);
}
