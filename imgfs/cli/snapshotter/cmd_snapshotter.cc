// imgfs snapshotter [--address PATH] [--store DIR] [REGISTRY FLAGS]: containerd's remote
// snapshotter (imgfs/snapshotter/, docs/snapshotter.md), serving until SIGTERM or SIGINT.
// Linked into imgfs-snapshotter alone (imgfs execs it: imgfs/cli/cmd_snapshotter.cc).
#include "imgfs/cli/snapshotter/cmd_snapshotter.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "core/log.h"
#include "core/numbers.h"
#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/config.h"
#include "imgfs/cli/control_client.h"
#include "imgfs/cli/registry_flags.h"
#include "imgfs/cli/run_config.h"
#include "imgfs/cli/usage.h"
#include "imgfs/daemon/daemon.h"
#include "imgfs/daemon/mount_point.h"
#include "imgfs/daemon/store_admin.h"
#include "imgfs/daemon/store_dir.h"
#include "imgfs/registry/reference.h"
#include "imgfs/snapshotter/grpc_client.h"
#include "imgfs/snapshotter/grpc_service.h"
#include "imgfs/snapshotter/remote_unpack.h"
#include "imgfs/snapshotter/snapshotter.h"

namespace imgfs::cli {
namespace {

// Image mounts through the store's daemon (started when none runs), shared with imgfs run. A
// mount it makes carries the keep-warm policy (`--keep-warm`, as imgfs run's): the daemon drops
// it after that long without reads once nothing uses it; the snapshotter never unmounts.
class DaemonMounter final : public snapshotter::ImageMounter {
 public:
  DaemonMounter(std::string store, uint64_t cache_size, std::optional<unsigned> keep_warm)
      : store_(std::move(store)), cache_size_(cache_size), keep_warm_(keep_warm) {}

  Status Mount(const std::string& index, const std::string& remote,
               const std::string& mountpoint) override {
    const std::string socket = daemon::DaemonSocketPath(store_);
    if (daemon::StoreOfMount(mountpoint).ok()) {
      Result<nlohmann::json> stats = ControlCall(socket, "GET", "/stats");
      if (stats.ok())
        for (const auto& m : (*stats)["mounts"])
          if (m.value("mountpoint", "") == mountpoint) return Status::Ok();
    }
    const Config& config = GlobalConfig();
    daemon::MountRequest request;
    request.image = index;
    request.mountpoint = mountpoint;
    request.remote = remote;
    request.ca_file = config.Get("ca_file");
    request.trace = config.Get("trace.mode");
    request.idle_unmount = keep_warm_;
    return MountThroughDaemon(store_, request, cache_size_, false).status();
  }

 private:
  const std::string store_;
  const uint64_t cache_size_;  // for a daemon it starts
  const std::optional<unsigned> keep_warm_;
};

// `snapshotter.registries`: "HOST[:PORT][/REPO...]" entries, separated by commas or spaces
// (a "docker://" before one is dropped); empty: any registry.
Result<std::vector<std::string>> LazyRegistries(const std::string& text) {
  std::vector<std::string> out;
  std::string entry;
  for (size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : ',';
    if (c != ',' && c != ' ' && c != '\t') {
      entry += c;
      continue;
    }
    if (entry.empty()) continue;
    if (entry.starts_with(registry::kDockerScheme)) entry.erase(0, registry::kDockerScheme.size());
    while (entry.ends_with('/')) entry.pop_back();
    // A reference's host and repository grammar (no tag, no digest), so that prefixes compare.
    if (entry.empty() || !registry::ParseReference("docker://" + entry + "/x", true).ok())
      return Status::InvalidArgument("snapshotter.registries: \"" + entry.substr(0, 200) +
                                     "\" is not HOST[:PORT][/REPOSITORY]");
    out.push_back(entry);
    entry.clear();
  }
  return out;
}

// imgfs snapshotter unpack IMAGE: registers IMAGE's layers with containerd as remote snapshots.
Result<int> RunUnpack(const ArgList& argv) {
  ASSIGN_OR_RETURN(
      Args args, ParseArgs(argv, {"store", "containerd", "namespace", "snapshotter", "label"}, {}));
  if (args.positional.size() != 2) return UsageError(kSnapshotterUsage);
  snapshotter::Labels extra;
  if (args.Has("label")) {
    const std::string label = args.Get("label");
    size_t eq = label.find('=');
    if (eq == 0 || eq == std::string::npos)
      return Status::InvalidArgument("--label wants KEY=VALUE, not " + label);
    extra[label.substr(0, eq)] = label.substr(eq + 1);
  }
  ASSIGN_OR_RETURN(snapshotter::CatalogImage image,
                   snapshotter::LoadStoreImage(StorePath(args), args.positional[1]));
  ASSIGN_OR_RETURN(auto client,
                   snapshotter::SnapshotsClient::Connect(
                       args.Get("containerd", "/run/containerd/containerd.sock"),
                       args.Get("snapshotter", "imgfs"), args.Get("namespace", "default")));
  // The layers stay in a lease for an hour: containerd's garbage collector keeps them until the
  // image record (its unpack step labels the config) refers to them.
  RETURN_IF_ERROR(client->UseLease(std::chrono::hours(1)));
  Result<std::string> chain = snapshotter::UnpackRemote(*client, image, extra);
  if (!chain.ok()) {
    (void)client->DropLease();
    return chain.status();
  }
  std::printf("%s\n", chain->c_str());
  return 0;
}

}  // namespace

Result<int> RunSnapshotter(const ArgList& argv) {
  if (!argv.empty() && argv[0] == "unpack") return RunUnpack(argv);
  ASSIGN_OR_RETURN(Args args,
                   ParseArgs(argv,
                             WithRegistryFlags({"address", "store", "log-level", "keep-warm"},
                                               kRegistryValueFlags),
                             kRegistrySwitches));
  if (!args.positional.empty()) return UsageError(kSnapshotterUsage);
  if (args.Has("log-level")) {
    ASSIGN_OR_RETURN(LogLevel level, ParseLogLevel(args.Get("log-level")));
    SetLogLevel(level);
  }
  ASSIGN_OR_RETURN(registry::ClientOptions registry, RegistryOptionsFromArgs(args));
  std::string store = StorePath(args);
  RETURN_IF_ERROR(daemon::SecureStoreDir(store).status());
  char real[PATH_MAX];
  if (!::realpath(store.c_str(), real)) return Status::FromErrno(errno, "store " + store);
  store = real;
  const std::string address = args.Get("address", "/run/imgfs/snapshotter.sock");
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(address).parent_path(), ec);

  // SIGTERM and SIGINT are taken by a thread of ours, blocked everywhere else (gRPC's threads
  // inherit the mask), so the server shuts down cleanly.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  ASSIGN_OR_RETURN(uint64_t cache_size, ParseSize(GlobalConfig().Get("cache_size"), "cache_size",
                                                  daemon::kMaxCacheSize));
  // A CRI pull's artifact goes into the store through its daemon (the mount then finds index
  // and trace there).
  auto puller = [store, cache_size](
                    const std::string& image,
                    const registry::ClientOptions& options) -> Result<snapshotter::PulledIndex> {
    RETURN_IF_ERROR(EnsureDaemon(store, cache_size));
    ASSIGN_OR_RETURN(nlohmann::json reply,
                     ControlCall(daemon::DaemonSocketPath(store), "POST", "/pull",
                                 daemon::PullRequest(image, options, "linux/amd64", "")));
    return snapshotter::PulledIndex{reply.value("digest", ""), reply.value("metadata", "")};
  };
  ASSIGN_OR_RETURN(std::vector<std::string> lazy_registries,
                   LazyRegistries(GlobalConfig().Get("snapshotter.registries")));
  snapshotter::StoreCatalog catalog(store, std::move(registry), GlobalConfig().Get("remote"),
                                    puller, std::move(lazy_registries));
  ASSIGN_OR_RETURN(std::optional<unsigned> keep_warm,
                   ParseKeepWarm(args.Get("keep-warm", kDefaultKeepWarm)));
  DaemonMounter mounter(store, cache_size, keep_warm);
  // The store's daemon up before the first pull, as imgfs-daemon.service keeps it on a node:
  // a lazy image's mount starts at its pull and should not wait for a daemon to start. One
  // started here exits a minute after start when no mount came, as one `imgfs mount` starts.
  if (Status s = EnsureDaemon(store, cache_size); !s.ok())
    IMGFS_LOG(Warning) << "starting the store's daemon: " << s.message()
                       << " (tried again at the first mount)";
  ASSIGN_OR_RETURN(auto snapshots,
                   snapshotter::Snapshotter::Open(store + "/snapshotter", store + "/mounts",
                                                  &catalog, &mounter));
  ASSIGN_OR_RETURN(auto server, snapshotter::GrpcServer::Start(snapshots.get(), address));
  IMGFS_LOG(Info) << "snapshotter serving " << address << " for store " << store;
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop, &sig);
    IMGFS_LOG(Info) << "signal " << sig << ": stopping";
    server->Shutdown();
  });
  server->Wait();
  waiter.join();
  return 0;
}

}  // namespace imgfs::cli
