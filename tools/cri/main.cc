// imgfs-cri: a small client of Kubernetes' CRI (what crictl does, for the subset imgfs's tests
// and benchmarks need): pull images and run a container in a pod through containerd's CRI
// plugin, the way the kubelet does.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/flags.h"
#include "core/log.h"
#include "tools/cri/cri_client.h"
#include "tools/cri/pod_run.h"

namespace imgfs::cri {
namespace {

constexpr char kUsage[] =
    "usage: imgfs-cri [--runtime-endpoint SOCKET] [--timeout S] COMMAND [ARGS]\n"
    "\n"
    "  version                   the runtime's name and versions\n"
    "  pull IMAGE                PullImage; prints the image id\n"
    "  inspecti IMAGE            ImageStatus: id, tags, digests, size; exit 1 when absent\n"
    "  rmi IMAGE                 RemoveImage\n"
    "  run [--pull] [--name N] [--log-dir DIR] [--runtime-handler H] [--env K=V]...\n"
    "      [--keep] [--timings] IMAGE [COMMAND [ARG...]]\n"
    "                            a pod (host network) with one container; its output on\n"
    "                            stdout/stderr as it runs, its exit code as ours\n"
    "\n"
    "SOCKET defaults to /run/containerd/containerd.sock (containerd's CRI plugin). Errors of\n"
    "imgfs-cri itself exit 125.\n";

constexpr int kOwnError = 125;

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes; ++i) {
    const unsigned b = rd() & 0xff;
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Result<int> Run(CriClient& client, const std::vector<std::string>& args) {
  FlagSet flags("imgfs-cri run [options] IMAGE [COMMAND [ARG...]]", {FlagSet::Syntax::kGnu, false});
  flags.Bool("pull", {}, "PullImage before the pod");
  flags.String("name", "", {}, "the pod's and container's name (default: imgfs-cri-RANDOM)");
  flags.String("log-dir", "", {}, "the pod's log directory (default: a new one, removed after)");
  flags.String("runtime-handler", "", {}, "the runtime handler (RuntimeClass) of the pod");
  flags.List("env", {"e"}, "K=V for the container's environment");
  flags.Bool("keep", {}, "leave the container, the pod and its logs");
  flags.Bool("timings", {}, "milliseconds to each step on stderr");
  ASSIGN_OR_RETURN(std::vector<std::string> pos, flags.Parse(args, 1));
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  if (pos.empty()) return Status::InvalidArgument("run: no image given");
  PodRunOptions o;
  o.pull = flags.GetBool("pull");
  o.keep = flags.GetBool("keep");
  o.timings = flags.GetBool("timings");
  const std::string name =
      flags.GetString("name").empty() ? "imgfs-cri-" + RandomHex(4) : flags.GetString("name");
  o.pod.name = name;
  o.pod.uid = RandomHex(16);
  o.pod.runtime_handler = flags.GetString("runtime-handler");
  o.container.name = name;
  o.container.image = pos[0];
  o.container.command.assign(pos.begin() + 1, pos.end());
  o.container.log_path = name + ".log";
  for (const std::string& kv : flags.GetList("env")) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Status::InvalidArgument("--env " + kv + ": not K=V");
    o.container.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::string made_dir;
  if (flags.GetString("log-dir").empty()) {
    std::string tmpl = "/tmp/imgfs-cri-logs-XXXXXX";
    if (!::mkdtemp(tmpl.data())) return Status::FromErrno(errno, "mkdtemp " + tmpl);
    made_dir = o.pod.log_directory = tmpl;
  } else {
    o.pod.log_directory = std::filesystem::absolute(flags.GetString("log-dir")).string();
  }
  Result<int> code = RunPod(client, o);
  if (!made_dir.empty() && !o.keep) {
    std::error_code ec;
    std::filesystem::remove_all(made_dir, ec);
  }
  return code;
}

Result<int> Main(const std::vector<std::string>& argv) {
  FlagSet global("imgfs-cri [--runtime-endpoint SOCKET] [--timeout S] COMMAND [ARGS]",
                 {FlagSet::Syntax::kGnu, false});
  global.String("runtime-endpoint", "/run/containerd/containerd.sock", {"r"},
                "the CRI runtime's Unix socket");
  global.String("timeout", "600", {}, "seconds allowed for a pull, a sandbox or a create");
  global.String("log-level", "warning", {}, "debug, info, warning or error");
  ASSIGN_OR_RETURN(std::vector<std::string> rest, global.Parse(argv, 1));
  if (global.help_requested() || rest.empty()) {
    std::fputs(kUsage, rest.empty() && !global.help_requested() ? stderr : stdout);
    return global.help_requested() ? 0 : 2;
  }
  ASSIGN_OR_RETURN(LogLevel level, ParseLogLevel(global.GetString("log-level")));
  SetLogLevel(level);
  ASSIGN_OR_RETURN(int64_t timeout, global.GetInt64("timeout", 1, 86400));
  std::string endpoint = global.GetString("runtime-endpoint");
  if (endpoint.rfind("unix://", 0) == 0) endpoint = endpoint.substr(7);
  ASSIGN_OR_RETURN(std::unique_ptr<CriClient> client,
                   CriClient::Connect(endpoint, std::chrono::seconds(timeout)));
  const std::string& cmd = rest[0];
  auto one_image = [&]() -> Result<std::string> {
    if (rest.size() != 2) return Status::InvalidArgument(cmd + ": give one image");
    return rest[1];
  };
  if (cmd == "version") {
    ASSIGN_OR_RETURN(std::string v, client->Version());
    std::printf("%s\n", v.c_str());
    return 0;
  }
  if (cmd == "pull") {
    ASSIGN_OR_RETURN(std::string image, one_image());
    ASSIGN_OR_RETURN(std::string ref, client->PullImage(image));
    std::printf("%s\n", ref.c_str());
    return 0;
  }
  if (cmd == "inspecti") {
    ASSIGN_OR_RETURN(std::string image, one_image());
    ASSIGN_OR_RETURN(std::optional<ImageInfo> info, client->ImageStatus(image));
    if (!info) {
      std::fprintf(stderr, "imgfs-cri: no image %s\n", image.c_str());
      return 1;
    }
    std::printf("id %s\nsize %llu\n", info->id.c_str(),
                static_cast<unsigned long long>(info->size));
    for (const std::string& t : info->repo_tags) std::printf("tag %s\n", t.c_str());
    for (const std::string& d : info->repo_digests) std::printf("digest %s\n", d.c_str());
    return 0;
  }
  if (cmd == "rmi") {
    ASSIGN_OR_RETURN(std::string image, one_image());
    RETURN_IF_ERROR(client->RemoveImage(image));
    return 0;
  }
  if (cmd == "run") return Run(*client, rest);
  return Status::InvalidArgument("unknown command " + cmd + " (imgfs-cri --help)");
}

}  // namespace
}  // namespace imgfs::cri

int main(int argc, char** argv) {
  imgfs::Result<int> code = imgfs::cri::Main(std::vector<std::string>(argv, argv + argc));
  if (!code.ok()) {
    std::fprintf(stderr, "imgfs-cri: %s\n", code.status().message().c_str());
    return imgfs::cri::kOwnError;
  }
  return *code;
}
