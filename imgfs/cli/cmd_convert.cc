// imgfs convert SOURCE [--store DIR] [--tag NAME] [--platform OS/ARCH] [--threads N]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>

#include "core/numbers.h"
#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/control_client.h"
#include "imgfs/cli/registry_flags.h"
#include "imgfs/cli/usage.h"
#include "imgfs/daemon/daemon.h"
#include "imgfs/daemon/store_admin.h"
#include "imgfs/registry/registry_source.h"

namespace imgfs::cli {
namespace {

// A one-line progress bar on standard error, redrawn at most ten times a second.
class ProgressBar {
 public:
  void Update(uint64_t done, uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100) && done < total) return;
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    int pct = total ? static_cast<int>(100 * done / total) : 0;
    int filled = pct * 30 / 100;
    std::fprintf(stderr, "\r[%.*s%*s] %3d%% %s/%s %.0f MB/s ", filled,
                 "==============================", 30 - filled, "", pct, HumanBytes(done).c_str(),
                 HumanBytes(total).c_str(), secs > 0 ? done / secs / 1e6 : 0.0);
    drawn_ = true;
  }
  void Clear() {
    if (drawn_) std::fprintf(stderr, "\r%*s\r", 79, "");
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_{};
  bool drawn_ = false;
};

}  // namespace

Result<int> RunConvert(const ArgList& argv) {
  ASSIGN_OR_RETURN(
      Args args, ParseArgs(argv,
                           WithRegistryFlags({"store", "tag", "platform", "threads", "chunk-size"},
                                             kRegistryValueFlags),
                           WithRegistryFlags({"quiet"}, kRegistrySwitches)));
  if (args.positional.size() != 1) return UsageError(kConvertUsage);
  const std::string source = args.positional[0];
  indexer::ConvertOptions options;
  ASSIGN_OR_RETURN(registry::ClientOptions registry_options, RegistryOptionsFromArgs(args));
  options.build.open_registry_source = registry::MakeRegistrySourceOpener(registry_options);
  if (args.Has("platform")) options.build.platform = args.Get("platform");
  if (args.Has("threads")) {
    ASSIGN_OR_RETURN(uint64_t threads,
                     ParseUint64(args.Get("threads"), 1, daemon::kMaxConvertThreads, "--threads"));
    options.threads = static_cast<unsigned>(threads);
  }
  if (args.Has("chunk-size")) {
    // The average; min and max follow at a quarter and four times (the default 16K/64K/256K).
    ASSIGN_OR_RETURN(uint64_t avg, ParseSize(args.Get("chunk-size"), "--chunk-size", 1u << 22));
    if (avg < 4096 || (avg & (avg - 1)))
      return Status::InvalidArgument("--chunk-size must be a power of two from 4096 to 4194304");
    options.chunker = {static_cast<uint32_t>(avg / 4), static_cast<uint32_t>(avg),
                       static_cast<uint32_t>(avg * 4)};
  }
  const bool tty = ::isatty(STDERR_FILENO) && !args.Has("quiet");
  ProgressBar bar;
  if (tty) options.build.progress = [&](uint64_t done, uint64_t total) { bar.Update(done, total); };

  const std::string tag = args.Get("tag", source);
  auto store = OpenStoreFromFlag(args.Get("store"));
  nlohmann::json reply;
  if (store.ok()) {
    auto converted = daemon::ConvertAndPublish(source, options, **store, tag);
    bar.Clear();
    if (!converted.ok()) return converted.status();
    reply = daemon::ConvertReply(*converted);
  } else {
    const std::string socket = daemon::DaemonSocketPath(StorePath(args));
    if (!DaemonHolds(store.status(), socket)) return store.status();
    RETURN_IF_ERROR(NoCredentialsForDaemon(args, "convert"));
    // The daemon serving mounts from this store holds it: it converts (no progress bar).
    if (tty)
      std::fprintf(stderr, "converting in the imgfs daemon of %s\n", StorePath(args).c_str());
    nlohmann::json request = daemon::ConvertRequest(source, tag, options);
    request["plain_http"] = registry_options.plain_http ? 1 : 0;
    request["tls_skip_verify"] = registry_options.transport.tls_verify ? 0 : 1;
    ASSIGN_OR_RETURN(reply, ControlCall(socket, "POST", "/convert", request));
  }
  std::printf("%s\n", reply.value("digest", "").c_str());
  if (tty) {
    const double secs = reply.value("seconds", 0.0);
    std::fprintf(stderr,
                 "converted %s: %llu files, %s in %.2f s (%.0f MB/s); %llu chunks, %llu new "
                 "(%s stored)\n",
                 source.c_str(), static_cast<unsigned long long>(reply.value("files", 0ull)),
                 HumanBytes(reply.value("file_bytes", uint64_t{0})).c_str(), secs,
                 secs > 0 ? reply.value("input_bytes", 0.0) / secs / 1e6 : 0.0,
                 static_cast<unsigned long long>(reply.value("chunks", 0ull)),
                 static_cast<unsigned long long>(reply.value("new_chunks", 0ull)),
                 HumanBytes(reply.value("new_stored_bytes", uint64_t{0})).c_str());
  }
  return 0;
}

}  // namespace imgfs::cli
