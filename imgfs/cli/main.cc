// imgfs: convert OCI images into deduplicated chunks and serve them lazily.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/log.h"
#include "core/version.h"
#include "imgfs/cli/command_main.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/usage.h"

namespace {

struct Command {
  const char* name;
  const char* alias;
  imgfs::Result<int> (*run)(const imgfs::cli::ArgList&);
  const char* usage;
};

constexpr Command kCommands[] = {
    {"convert", nullptr, imgfs::cli::RunConvert, imgfs::cli::kConvertUsage},
    {"inspect", nullptr, imgfs::cli::RunInspect, imgfs::cli::kInspectUsage},
    {"export", nullptr, imgfs::cli::RunExport, imgfs::cli::kExportUsage},
    {"ls", "list", imgfs::cli::RunList, imgfs::cli::kListUsage},
    {"rm", nullptr, imgfs::cli::RunRemove, imgfs::cli::kRemoveUsage},
    {"gc", nullptr, imgfs::cli::RunGc, imgfs::cli::kGcUsage},
    {"verify", nullptr, imgfs::cli::RunVerify, imgfs::cli::kVerifyUsage},
    {"push", nullptr, imgfs::cli::RunPush, imgfs::cli::kPushUsage},
    {"pull", nullptr, imgfs::cli::RunPull, imgfs::cli::kPullUsage},
    {"repack", nullptr, imgfs::cli::RunRepack, imgfs::cli::kRepackUsage},
    {"mount", nullptr, imgfs::cli::RunMount, imgfs::cli::kMountUsage},
    {"umount", "unmount", imgfs::cli::RunUmount, imgfs::cli::kUmountUsage},
    {"stats", nullptr, imgfs::cli::RunStats, imgfs::cli::kStatsUsage},
    {"daemon", nullptr, imgfs::cli::RunDaemonCommand, imgfs::cli::kDaemonUsage},
    {"config", nullptr, imgfs::cli::RunConfig, imgfs::cli::kConfigUsage},
    {"run", nullptr, imgfs::cli::RunRun, imgfs::cli::kRunUsage},
    {"ps", nullptr, imgfs::cli::RunPs, imgfs::cli::kPsUsage},
    {"stop", nullptr, imgfs::cli::RunStop, imgfs::cli::kStopUsage},
    {"logs", nullptr, imgfs::cli::RunLogs, imgfs::cli::kLogsUsage},
    {"snapshotter", nullptr, imgfs::cli::ExecSnapshotter, imgfs::cli::kSnapshotterUsage},
};

constexpr char kUsage[] =
    "usage: imgfs COMMAND [ARGS]\n"
    "\n"
    "  convert SOURCE [--store DIR] [--tag NAME] [--platform OS/ARCH] [--threads N]\n"
    "          SOURCE: oci:DIR[:TAG] | docker-archive:FILE | dir:PATH | docker://HOST/REPO:TAG\n"
    "  inspect IMAGE [--json]         files, chunks, bytes stored, dedup ratios\n"
    "  export IMAGE DIR | --tar FILE  write the flattened tree back out\n"
    "  ls                             list stored images\n"
    "  rm IMAGE...                    drop images (their chunks go at the next gc)\n"
    "  gc                             reclaim chunks no image references\n"
    "  push IMAGE DEST                copy index, packs and trace to DEST (file:///DIR, "
    "http(s)://URL, docker://HOST/REPO:TAG)\n"
    "  pull docker://HOST/REPO:TAG    fetch the index and trace that push put in a registry\n"
    "  repack IMAGE [--tag NAME]      lay the chunks of IMAGE's recorded trace out first\n"
    "  mount IMAGE MOUNTPOINT [--remote URL] [--cache-size BYTES] [--trace record|replay|off] "
    "[-f]\n"
    "                                 serve IMAGE read-only and lazily through FUSE\n"
    "  umount MOUNTPOINT              stop serving a mount\n"
    "  stats MOUNTPOINT [--json]      reads, cache hits and misses, bytes fetched, latency\n"
    "\n"
    "  daemon                         serve a store's mounts (started by mount)\n"
    "  run IMAGE [COMMAND...] [flags]  run a container from IMAGE, lazily (see imgfs run --help)\n"
    "  ps [--json] [--prune]          containers of imgfs run (running, and -d ones that exited)\n"
    "  stop ID... [-t SECONDS]        stop containers of imgfs run\n"
    "  logs ID [-f]                   the output of a container started with imgfs run -d\n"
    "  config show [--json]           the effective configuration and where each value came from\n"
    "  snapshotter [--address PATH]   containerd's snapshotter (proxy plugin) over the store\n"
    "\n"
    "IMAGE is a name given with --tag or an index digest (or a unique prefix of one).\n"
    "imgfs COMMAND --help shows a command's flags.\n"
    "The store is --store DIR, else $IMGFS_STORE, else the configuration's (/var/lib/imgfs).\n"
    "Every command takes --config FILE (else $IMGFS_CONFIG, else /etc/imgfs/config.toml).\n"
    "imgfs --version prints the version and the git commit it was built from.\n";

}  // namespace

int main(int argc, char** argv) {
  // Writes to a daemon that went away (its socket) or to a closed pipe are errors we report.
  std::signal(SIGPIPE, SIG_IGN);
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help") ||
      !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string command = argv[1];
  imgfs::cli::ArgList args(argv + 2, argv + argc);
  if (command == "--version" || command == "version") {
    std::printf("imgfs %s (commit %s)\n", imgfs::kVersion, imgfs::kGitCommit);
    return 0;
  }
  const Command* found = nullptr;
  for (const Command& c : kCommands)
    if (command == c.name || (c.alias && command == c.alias)) found = &c;
  if (!found) {
    std::fprintf(stderr, "imgfs: unknown command '%s'\n%s", command.c_str(), kUsage);
    return 2;
  }
  // `run` parses its own flags: what follows its IMAGE is the container's command, whose
  // --help or --config are not ours. imgfs-snapshotter loads the configuration itself.
  using imgfs::cli::ConfigSource;
  const ConfigSource config = command == "run"           ? ConfigSource::kEnvironment
                              : command == "snapshotter" ? ConfigSource::kNone
                                                         : ConfigSource::kArgs;
  if (config != ConfigSource::kEnvironment &&
      imgfs::cli::PrintHelpIfAsked(found->name, found->usage, args))
    return 0;
  return imgfs::cli::RunCommand(found->name, found->run, std::move(args), config);
}
