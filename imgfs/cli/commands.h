// The imgfs subcommands. Each parses its flags and calls the libraries; it prints results on
// standard output and returns the process exit code. Errors are printed by main, in one line.
// Thread-safety: each runs on the CLI's main thread; none is meant to run concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "imgfs/daemon/mount_manager.h"
#include "imgfs/local_store.h"
#include "imgfs/registry/registry_client.h"

namespace imgfs::cli {

using ArgList = std::vector<std::string>;

Result<int> RunConvert(const ArgList& argv);
Result<int> RunInspect(const ArgList& argv);
Result<int> RunExport(const ArgList& argv);
Result<int> RunList(const ArgList& argv);
Result<int> RunRemove(const ArgList& argv);
Result<int> RunGc(const ArgList& argv);
Result<int> RunVerify(const ArgList& argv);
Result<int> RunPush(const ArgList& argv);
Result<int> RunPull(const ArgList& argv);
Result<int> RunRepack(const ArgList& argv);
Result<int> RunMount(const ArgList& argv);
Result<int> RunUmount(const ArgList& argv);
Result<int> RunStats(const ArgList& argv);
Result<int> RunConfig(const ArgList& argv);
Result<int> RunRun(const ArgList& argv);
Result<int> RunPs(const ArgList& argv);
Result<int> RunStop(const ArgList& argv);
Result<int> RunLogs(const ArgList& argv);
// `imgfs snapshotter`: execs imgfs-snapshotter (beside this program, else in PATH) with ARGV as
// given, --config included; returns only when it cannot (Unimplemented when it is not there).
Result<int> ExecSnapshotter(const ArgList& argv);
// `imgfs daemon` (the library's daemon is imgfs::RunDaemon in imgfs/daemon/daemon.h).
Result<int> RunDaemonCommand(const ArgList& argv);

// Opens --store DIR, else $IMGFS_STORE, else /var/lib/imgfs. Read-only opens work while a
// daemon serves mounts from the store.
Result<std::unique_ptr<store::LocalStore>> OpenStoreFromFlag(const std::string& flag_value,
                                                             bool read_only = false);

struct Args;
// Starts STORE's daemon (as `imgfs mount` does: it exits once idle) unless one answers.
Status EnsureDaemon(const std::string& store, uint64_t cache_size);
// Mounts REQUEST through STORE's daemon, starting one when none answers (with CACHE_SIZE; an
// answering daemon gets it only when SET_CACHE_SIZE). Returns the image's index digest, and in
// *IMAGE_CONFIG (may be null) its OCI config when the daemon tells it (null JSON otherwise).
Result<std::string> MountThroughDaemon(const std::string& store,
                                       const daemon::MountRequest& request, uint64_t cache_size,
                                       bool set_cache_size, nlohmann::json* image_config = nullptr);
// `mount`/`run` of a registry image: IMAGE docker://HOST/REPO:TAG becomes the index digest of the
// tag's imgfs artifact (found by `imgfs push`'s referrers tag) and REMOTE its repository (REMOTE
// must be empty then); a docker:// REMOTE is normalized. The registry options travel in the
// remote URL to the daemon, which reads the packs; credentials come from the credential files
// (the daemon's environment), never over its socket. Anything else is left as it is.
Status ResolveRegistryMount(std::string* image, std::string* remote,
                            const registry::ClientOptions& options, const std::string& platform);
// The store a command works on: --store DIR, else $IMGFS_STORE, else /var/lib/imgfs.
std::string StorePath(const Args& args);
// Whether a failure to open the store for writing is because a running daemon holds it (then
// convert, rm and gc go through the daemon's socket).
bool DaemonHolds(const Status& open_error, const std::string& socket);
// What the daemon does for a command (VERB: "convert", "pull") it does with its own credential
// files: InvalidArgument when ARGS carry --creds or --ca-file, else OK.
Status NoCredentialsForDaemon(const Args& args, const std::string& verb);

}  // namespace imgfs::cli
