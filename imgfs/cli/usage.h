// The usage text of each imgfs subcommand: printed for `imgfs COMMAND --help` (or -h) and
// quoted in the error for wrong arguments. Every command also takes --store DIR (else
// $IMGFS_STORE, else /var/lib/imgfs). Constants; thread-safe.
#pragma once

#include <sstream>
#include <string>

#include "core/status.h"

namespace imgfs::cli {

inline constexpr char kConvertUsage[] =
    "imgfs convert SOURCE [--store DIR] [--tag NAME] [--platform OS/ARCH] [--threads N]\n"
    "                     [--chunk-size BYTES] [--quiet] [REGISTRY FLAGS]\n"
    "  SOURCE: oci:DIR[:TAG] | docker-archive:FILE | dir:PATH |\n"
    "          docker://HOST[:PORT]/REPO[:TAG|@DIGEST]\n"
    "  REGISTRY FLAGS: --creds USER:PASS  --plain-http  --tls-verify=false  --ca-file PEM\n"
    "  --threads N         chunking threads, 1..256 (default: one per core)\n"
    "  --chunk-size BYTES  average chunk size, a power of two from 4096 to 4194304 (default "
    "65536)\n";
inline constexpr char kInspectUsage[] = "imgfs inspect IMAGE [--json] [--store DIR]\n";
inline constexpr char kExportUsage[] =
    "imgfs export IMAGE DIR [--store DIR]\n"
    "imgfs export IMAGE --tar FILE [--store DIR]\n";
inline constexpr char kListUsage[] =
    "imgfs ls [--store DIR]\n"
    "imgfs ls --mounts [--json]\n"
    "  --mounts  every imgfs mount on this node, its store and image, whichever daemon serves it\n";
inline constexpr char kRemoveUsage[] = "imgfs rm IMAGE... [--store DIR]\n";
inline constexpr char kGcUsage[] = "imgfs gc [--store DIR]\n";
inline constexpr char kVerifyUsage[] =
    "imgfs verify [--store DIR] [--json]\n"
    "  checks every chunk (present, XXH3, SHA-256), index and ref of the store; exit 1 and one\n"
    "  line per problem when something is wrong. Read-only: runs beside the store's daemon.\n";
inline constexpr char kPushUsage[] =
    "imgfs push IMAGE DEST [--store DIR] [--trace FILE] [--ca-file PEM] [REGISTRY FLAGS]\n"
    "  DEST: file:///DIR | http(s)://URL | docker://HOST[:PORT]/REPO[:TAG]\n"
    "  REGISTRY FLAGS: --creds USER:PASS  --plain-http  --tls-verify=false\n"
    "  --mount-from REPO   mount packs another repository of the registry has, not upload\n";
inline constexpr char kPullUsage[] =
    "imgfs pull docker://HOST[:PORT]/REPO[:TAG|@DIGEST] [--store DIR] [--tag NAME]\n"
    "           [--platform OS/ARCH] [REGISTRY FLAGS]\n"
    "  fetches the index and trace of the image's imgfs artifact (see imgfs push)\n";
inline constexpr char kRepackUsage[] = "imgfs repack IMAGE [--tag NAME] [--store DIR]\n";
inline constexpr char kMountUsage[] =
    "imgfs mount IMAGE MOUNTPOINT [--store DIR] [--remote URL [--ca-file PEM]]\n"
    "imgfs mount docker://HOST/REPO[:TAG|@DIGEST] MOUNTPOINT [--plain-http] [--tls-verify=false]\n"
    "  --remote URL        file:///DIR, http(s)://URL or docker://HOST/REPO (a registry)\n"
    "                             [--cache-size BYTES] [--trace record|replay|off]\n"
    "                             [--trace-seconds N] [-f]\n"
    "  --cache-size BYTES  cache limit of the store's daemon, e.g. 512M or 2G (0: no limit)\n"
    "  --trace-seconds N   recording window of --trace record, 1..86400 (default 30)\n"
    "  -f                  serve in the foreground (this process is the daemon)\n";
inline constexpr char kUmountUsage[] =
    "imgfs umount MOUNTPOINT [--store DIR]\n"
    "  without --store, the daemon is the one of the store the mount names (its source in\n"
    "  /proc/self/mountinfo is imgfs:STORE)\n";
inline constexpr char kStatsUsage[] =
    "imgfs stats MOUNTPOINT [--json] [--store DIR]\n"
    "  without --store, the daemon is the one of the store the mount names\n";
inline constexpr char kDaemonUsage[] =
    "imgfs daemon [--store DIR] [--cache-size BYTES] [--memory-cache BYTES] [--exit-when-idle]\n"
    "             [--log-file FILE] [--log-max-size BYTES] [--log-level LEVEL]\n"
    "             [--log-format text|json] [--metrics-address HOST:PORT]\n"
    "             [--remote-timeout SECONDS] [--no-supervise]\n"
    "imgfs daemon --upgrade [--store DIR]\n"
    "  serves the store's mounts and its control socket STORE/imgfs.sock (root and the\n"
    "  store's owner only); usually started by `imgfs mount`, or at boot by\n"
    "  imgfs-daemon.service. --metrics-address also serves GET /metrics (Prometheus) over TCP.\n"
    "  A small supervisor process holds the mounts' FUSE connections and restarts the daemon if\n"
    "  it dies, which then takes them over (readers pause, see no error); --no-supervise runs\n"
    "  the daemon alone, whose crash leaves its mounts dead. --upgrade asks the store's running\n"
    "  daemon to hand its mounts to the imgfs binary installed now (the same pause).\n"
    "  --remote-timeout: a read of data the node lacks fails with EIO after this long without\n"
    "  the remote (default 30; remote_timeout in the config, $IMGFS_REMOTE_TIMEOUT).\n"
    "  --memory-cache: decoded chunks kept in memory, where a trace replay decodes ahead of\n"
    "  the program (default 256M; memory_cache in the config, $IMGFS_MEMORY_CACHE).\n";

inline constexpr char kSnapshotterUsage[] =
    "imgfs snapshotter [--address PATH] [--store DIR] [--log-level LEVEL] [--keep-warm DURATION]\n"
    "                  [REGISTRY FLAGS]\n"
    "  serves containerd's snapshots API on PATH (default /run/imgfs/snapshotter.sock) for a\n"
    "  proxy_plugins entry: overlay snapshots for every image, lazily mounted imgfs images for\n"
    "  the layers of images with an imgfs index (docs/snapshotter.md). State lives in\n"
    "  STORE/snapshotter; image mounts go through the store's daemon, which drops one after\n"
    "  DURATION without reads once nothing uses it (default 10m, as imgfs run; \"forever\").\n"
    "  REGISTRY FLAGS (how artifacts are found and read): --creds USER:PASS  --plain-http\n"
    "  --tls-verify=false  --ca-file PEM\n"
    "imgfs snapshotter unpack IMAGE [--store DIR] [--containerd SOCKET] [--namespace NS]\n"
    "                  [--snapshotter NAME] [--label KEY=VALUE]\n"
    "  registers the layers of IMAGE (in the store, e.g. from imgfs pull) with containerd as\n"
    "  lazily served snapshots of the snapshotter NAME (default imgfs), as containerd's unpacker\n"
    "  does for a remote snapshotter: no layer is downloaded; prints the image's chain ID\n";

inline constexpr char kConfigUsage[] =
    "imgfs config show [--json] [--config FILE]\n"
    "  prints the effective configuration: each key, its value and where it came from\n"
    "  (default, FILE:LINE, $ENV); keys and variables are listed in docs/operations.md\n";

inline constexpr char kRunUsage[] =
    "imgfs run [FLAGS] IMAGE [--] [COMMAND [ARG...]]\n"
    "  runs one container from IMAGE (a name or digest in the store; with --remote, a digest\n"
    "  whose index is fetched): the image is mounted lazily through the store's daemon (a mount\n"
    "  of the same image is reused and stays --keep-warm after), a writable overlay goes on top\n"
    "  (removed afterwards unless --keep), and runc-lite runs COMMAND (else the image's\n"
    "  Entrypoint + Cmd). Exits with the container's code; 125 when the run itself failed, 127\n"
    "  when the program is not in the image.\n"
    "  --store DIR --remote URL --ca-file PEM --cache-size BYTES --trace off|record|replay\n"
    "  IMAGE docker://HOST/REPO:TAG: the imgfs artifact imgfs push put beside that image (or\n"
    "  --remote docker://HOST/REPO with a digest); --creds USER:PASS --plain-http\n"
    "  --tls-verify=false --platform OS/ARCH as for imgfs pull\n"
    "  -e, --env K=V (or K: this environment's)   --env-file FILE   -v, --volume SRC:DST[:ro]\n"
    "  -w, --workdir DIR   -u, --user UID[:GID]|NAME[:GROUP]   --hostname NAME   --name ID\n"
    "  --net none|host (none: a new network namespace with loopback only)   --read-only\n"
    "  --memory BYTES   --cpus N   --pids-limit N   -t, --tty   -i, --interactive   --keep\n"
    "  --runtime PATH (any runc-compatible runtime)   --timings (each step's time on stderr)\n"
    "  --stop-timeout S: after SIGINT/SIGTERM (passed on to the container), kill it after S\n"
    "  seconds (default 10), or at once at a second one\n"
    "  --keep-warm DURATION: the image's mount is dropped when nothing used it for DURATION\n"
    "  (seconds, or with s/m/h; default 10m; 0: as soon as it is unused; forever: until imgfs\n"
    "  umount); the first run that mounts the image sets it\n"
    "  --gpus all|N|device=LIST: GPUs through gpu-hooks (N: the first N; LIST: indexes, UUIDs\n"
    "  or CDI names); --cdi-root DIR reads the CDI specs under DIR (default /)\n"
    "  -d, --detach: print the container's ID once it runs and leave it running; its output goes\n"
    "  to a log (imgfs logs); imgfs ps lists it, imgfs stop stops it; its record stays after it\n"
    "  exits until imgfs ps --prune (or at once with --rm)\n";

inline constexpr char kPsUsage[] =
    "imgfs ps [--store DIR] [--json] [--prune]\n"
    "  lists the containers of imgfs run in the store: running ones (foreground or -d) and\n"
    "  detached ones that exited (with their exit code). --prune removes those that are not\n"
    "  running and prints their IDs; for one whose imgfs run was killed (status gone) that\n"
    "  includes the runtime's state and its overlay.\n";

inline constexpr char kStopUsage[] =
    "imgfs stop [--store DIR] [-t SECONDS] ID...\n"
    "  stops containers of imgfs run: SIGTERM to the container (through its imgfs run), SIGKILL\n"
    "  after SECONDS (default 10); waits until each is gone and its overlay removed.\n";

inline constexpr char kLogsUsage[] =
    "imgfs logs [--store DIR] [-f] ID\n"
    "  prints the output (stdout and stderr) of a container started with imgfs run -d; -f\n"
    "  follows it until the container exits.\n";

// The error for wrong arguments: "usage: " and the synopsis lines of USAGE, on one line.
inline Status UsageError(const char* usage) {
  std::istringstream lines(usage);
  std::string line, out = "usage:";
  while (std::getline(lines, line)) {
    if (line.rfind("  ", 0) == 0) break;  // the explanations start
    std::istringstream words(line);
    for (std::string w; words >> w;) out += " " + w;
  }
  return Status::InvalidArgument(out);
}

}  // namespace imgfs::cli
