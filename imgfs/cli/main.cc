// imgfs: convert OCI images into deduplicated chunks and serve them lazily.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

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
    {"push", nullptr, imgfs::cli::RunPush, imgfs::cli::kPushUsage},
    {"pull", nullptr, imgfs::cli::RunPull, imgfs::cli::kPullUsage},
    {"repack", nullptr, imgfs::cli::RunRepack, imgfs::cli::kRepackUsage},
    {"mount", nullptr, imgfs::cli::RunMount, imgfs::cli::kMountUsage},
    {"umount", "unmount", imgfs::cli::RunUmount, imgfs::cli::kUmountUsage},
    {"stats", nullptr, imgfs::cli::RunStats, imgfs::cli::kStatsUsage},
    {"daemon", nullptr, imgfs::cli::RunDaemonCommand, imgfs::cli::kDaemonUsage},
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
    "\n"
    "IMAGE is a name given with --tag or an index digest (or a unique prefix of one).\n"
    "imgfs COMMAND --help shows a command's flags.\n"
    "The store is --store DIR, else $IMGFS_STORE, else /var/lib/imgfs.\n";

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
    std::puts("imgfs 0.1.0");
    return 0;
  }
  const Command* found = nullptr;
  for (const Command& c : kCommands)
    if (command == c.name || (c.alias && command == c.alias)) found = &c;
  if (!found) {
    std::fprintf(stderr, "imgfs: unknown command '%s'\n%s", command.c_str(), kUsage);
    return 2;
  }
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a == "--help" || a == "-h") {
      std::printf("usage: %s", found->usage);
      return 0;
    }
  }
  auto run = found->run;
  imgfs::Result<int> rc = run(args);
  if (!rc.ok()) {
    std::fprintf(stderr, "imgfs %s: %s\n", command.c_str(), rc.status().message().c_str());
    return rc.status().code() == imgfs::Code::kInvalidArgument ? 2 : 1;
  }
  return *rc;
}
