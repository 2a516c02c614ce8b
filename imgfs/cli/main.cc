// imgfs: convert OCI images into deduplicated chunks and serve them lazily.
#include <cstdio>
#include <csignal>
#include <cstring>
#include <string>

#include "imgfs/cli/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: imgfs COMMAND [ARGS]\n"
    "\n"
    "  convert SOURCE [--store DIR] [--tag NAME] [--platform OS/ARCH] [--threads N]\n"
    "          SOURCE: oci:DIR[:TAG] | docker-archive:FILE | dir:PATH\n"
    "  inspect IMAGE [--json]         files, chunks, bytes stored, dedup ratios\n"
    "  export IMAGE DIR | --tar FILE  write the flattened tree back out\n"
    "  ls                             list stored images\n"
    "  rm IMAGE...                    drop images (their chunks go at the next gc)\n"
    "  gc                             reclaim chunks no image references\n"
    "  push IMAGE DEST                copy index, packs and trace to DEST (file:///DIR, http(s)://URL)\n"
    "  repack IMAGE [--tag NAME]      lay the chunks of IMAGE's recorded trace out first\n"
    "  mount IMAGE MOUNTPOINT [--remote URL] [--cache-size BYTES] [--trace record|replay|off] [-f]\n"
    "                                 serve IMAGE read-only and lazily through FUSE\n"
    "  umount MOUNTPOINT              stop serving a mount\n"
    "  stats MOUNTPOINT [--json]      reads, cache hits and misses, bytes fetched, latency\n"
    "\n"
    "IMAGE is a name given with --tag or an index digest (or a unique prefix of one).\n"
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
  imgfs::ArgList args(argv + 2, argv + argc);
  imgfs::Result<int> (*run)(const imgfs::ArgList&) = nullptr;
  if (command == "convert") run = imgfs::RunConvert;
  else if (command == "inspect") run = imgfs::RunInspect;
  else if (command == "export") run = imgfs::RunExport;
  else if (command == "ls" || command == "list") run = imgfs::RunList;
  else if (command == "rm") run = imgfs::RunRemove;
  else if (command == "gc") run = imgfs::RunGc;
  else if (command == "push") run = imgfs::RunPush;
  else if (command == "repack") run = imgfs::RunRepack;
  else if (command == "mount") run = imgfs::RunMount;
  else if (command == "umount" || command == "unmount") run = imgfs::RunUmount;
  else if (command == "stats") run = imgfs::RunStats;
  else if (command == "daemon") run = imgfs::RunDaemon;
  else if (command == "--version" || command == "version") {
    std::puts("imgfs 0.1.0");
    return 0;
  }
  if (!run) {
    std::fprintf(stderr, "imgfs: unknown command '%s'\n%s", command.c_str(), kUsage);
    return 2;
  }
  imgfs::Result<int> rc = run(args);
  if (!rc.ok()) {
    std::fprintf(stderr, "imgfs %s: %s\n", command.c_str(), rc.status().message().c_str());
    return rc.status().code() == imgfs::Code::kInvalidArgument ? 2 : 1;
  }
  return *rc;
}
