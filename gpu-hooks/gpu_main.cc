// imgfs-gpu: NVIDIA driver discovery and CDI specs. A thin command over imgfs_gpu.
//
//   imgfs-gpu discover      [--root DIR]                       what was found, as JSON
//   imgfs-gpu cdi generate  [--root DIR] [--output FILE.json|FILE.yaml] [--hook-path PATH]
//   imgfs-gpu cdi list      [--root DIR]                       qualified device names
//   imgfs-gpu apply --config FILE [--root DIR] [--output FILE]   inject into an OCI config
//   imgfs-gpu bench         [--root DIR] [--runs N]            resolve+apply timing
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/fd.h"
#include "core/flags.h"
#include "core/version.h"
#include "gpu-hooks/apply.h"
#include "gpu-hooks/cdi.h"
#include "gpu-hooks/cdi_registry.h"
#include "gpu-hooks/discovery.h"
#include "gpu-hooks/inject.h"
#include "gpu-hooks/request.h"

namespace {

using namespace imgfs;
using namespace imgfs::gpu;
using nlohmann::json;

// One flag set for every command: --root, --output, --hook-path, --config, --runs (core/flags.h,
// GNU syntax, flags anywhere among the command words).
FlagSet MakeFlags() {
  FlagSet f("", {FlagSet::Syntax::kGnu, /*interleaved=*/true});
  f.String("root", "/", {}, "the host root to discover the driver under (a fake tree in tests)");
  f.String("output", "", {}, "write here instead of standard output");
  f.String("hook-path", "", {}, "the imgfs-gpu-hook path written into CDI specs");
  f.String("config", "", {}, "the OCI config.json to inject into");
  f.String("runs", "100", {}, "bench: how many runs (1..1000000)");
  return f;
}

std::string DefaultHookPath() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) {
    std::string self(buf, static_cast<size_t>(n));
    std::string sibling = self.substr(0, self.rfind('/')) + "/imgfs-gpu-hook";
    if (::access(sibling.c_str(), X_OK) == 0) return sibling;
  }
  return GenerateOptions().hook_path;
}

Status WriteOut(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::cout << text;
    return Status::Ok();
  }
  return WriteFileAtomic(path, text, 0644);
}

json DriverInfoToJson(const DriverInfo& info) {
  auto files = [](const std::vector<DriverFile>& v) {
    json a = json::array();
    for (const DriverFile& f : v)
      a.push_back({{"path", f.path}, {"capability", CapabilityName(f.capability)}});
    return a;
  };
  json gpus = json::array();
  for (const GpuInfo& g : info.gpus) {
    json o = {{"index", g.index},
              {"minor", g.minor},
              {"uuid", g.uuid},
              {"busId", g.bus_id},
              {"model", g.model}};
    if (g.node)
      o["node"] = {{"path", g.node->path}, {"major", g.node->major}, {"minor", g.node->minor}};
    gpus.push_back(o);
  }
  json nodes = json::array();
  for (const auto& n : info.control_nodes)
    nodes.push_back({{"path", n.path}, {"major", n.major}, {"minor", n.minor}});
  return {{"root", info.root},
          {"driverVersion", info.version},
          {"cudaVersion", info.cuda_version},
          {"majors", info.majors},
          {"gpus", gpus},
          {"controlNodes", nodes},
          {"libraries", files(info.libraries)},
          {"binaries", files(info.binaries)},
          {"firmware", info.firmware},
          {"ipc", files(info.ipc)},
          {"warnings", info.warnings}};
}

Status Discover(const FlagSet& f) {
  ASSIGN_OR_RETURN(DriverInfo info, DiscoverDriver(f.GetString("root")));
  std::cout << DriverInfoToJson(info).dump(2) << "\n";
  return Status::Ok();
}

Status Generate(const FlagSet& f) {
  const std::string& root = f.GetString("root");
  ASSIGN_OR_RETURN(DriverInfo info, DiscoverDriver(root));
  for (const std::string& w : info.warnings) std::cerr << "imgfs-gpu: warning: " << w << "\n";
  GenerateOptions options;
  options.hook_path = f.IsSet("hook-path") ? f.GetString("hook-path") : DefaultHookPath();
  ASSIGN_OR_RETURN(CdiSpec spec, GenerateNvidiaSpec(info, options));
  const std::string& out = f.GetString("output");
  if (out.empty() || out == "-") return WriteOut(out, CdiSpecToJson(spec).dump(2) + "\n");
  return WriteCdiSpecFile(out, spec);
}

Status List(const FlagSet& f) {
  ASSIGN_OR_RETURN(CdiRegistry reg, CdiRegistry::Load(f.GetString("root")));
  for (const std::string& e : reg.errors()) std::cerr << "imgfs-gpu: skipped: " << e << "\n";
  for (const std::string& n : reg.DeviceNames()) std::cout << n << "\n";
  return Status::Ok();
}

Status Apply(const FlagSet& f) {
  const std::string& path = f.GetString("config");
  if (path.empty()) return Status::InvalidArgument("apply needs --config FILE");
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 16u << 20));
  json config = json::parse(text, nullptr, false);
  if (config.is_discarded()) return Status::InvalidArgument(path + ": invalid JSON");
  ASSIGN_OR_RETURN(InjectResult r, InjectGpus(config, f.GetString("root")));
  if (!r.requested) std::cerr << "imgfs-gpu: the config requests no GPU; unchanged\n";
  return WriteOut(f.GetString("output"), config.dump(2) + "\n");
}

Status Bench(const FlagSet& f) {
  const std::string& root = f.GetString("root");
  ASSIGN_OR_RETURN(uint64_t runs_flag, f.GetUint64("runs", 1, 1000000));
  const int runs = static_cast<int>(runs_flag);
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };

  auto t0 = Clock::now();
  ASSIGN_OR_RETURN(DriverInfo info, DiscoverDriver(root));
  ASSIGN_OR_RETURN(CdiSpec spec, GenerateNvidiaSpec(info, GenerateOptions()));
  double generate_ms = ms(Clock::now() - t0);

  // The spec goes into a private CDI root so the timed part reads it from disk like a runtime.
  char tmpl[] = "/tmp/imgfs-gpu-bench.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return Status::FromErrno(errno, "mkdtemp");
  std::string cdi_root = tmpl;
  std::filesystem::create_directories(cdi_root + "/var/run/cdi");
  RETURN_IF_ERROR(WriteCdiSpecFile(cdi_root + "/var/run/cdi/nvidia.yaml", spec));

  json base = {
      {"ociVersion", "1.2.0"},
      {"process",
       {{"args", {"/bin/true"}},
        {"env",
         {"PATH=/usr/bin:/bin", "NVIDIA_VISIBLE_DEVICES=all",
          "NVIDIA_DRIVER_CAPABILITIES=compute,utility", "NVIDIA_REQUIRE_CUDA=cuda>=12.0"}}}},
      {"root", {{"path", "rootfs"}}},
      {"mounts", json::array()},
      {"linux", {{"namespaces", {{{"type", "mount"}}}}}}};
  std::vector<double> samples;
  size_t mounts = 0;
  for (int i = 0; i < runs; ++i) {
    json config = base;
    auto t = Clock::now();
    ASSIGN_OR_RETURN(InjectResult r, InjectGpus(config, cdi_root));
    samples.push_back(ms(Clock::now() - t));
    mounts = r.mounts;
  }
  std::filesystem::remove_all(cdi_root);
  std::sort(samples.begin(), samples.end());
  std::printf("discover+generate: %.3f ms (once)\n", generate_ms);
  std::printf(
      "load CDI + resolve + apply (NVIDIA_VISIBLE_DEVICES=all, %zu mounts), %d runs: "
      "median %.3f ms, min %.3f ms, max %.3f ms\n",
      mounts, runs, samples[samples.size() / 2], samples.front(), samples.back());
  return Status::Ok();
}

constexpr char kUsage[] =
    "usage: imgfs-gpu discover [--root DIR]\n"
    "       imgfs-gpu cdi generate [--root DIR] [--output FILE.json|FILE.yaml] [--hook-path PATH]\n"
    "       imgfs-gpu cdi list [--root DIR]\n"
    "       imgfs-gpu apply --config FILE [--root DIR] [--output FILE]\n"
    "       imgfs-gpu bench [--root DIR] [--runs N]\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::string(argv[1]) == "--version" || std::string(argv[1]) == "version")) {
    std::cout << "imgfs-gpu " << imgfs::kVersion << " (commit " << imgfs::kGitCommit << ")\n";
    return 0;
  }
  FlagSet flags = MakeFlags();
  auto positional = flags.Parse(std::vector<std::string>(argv, argv + argc), 1);
  if (!positional.ok()) {
    std::cerr << "imgfs-gpu: " << positional.status().message() << "\n" << kUsage;
    return 2;
  }
  const std::vector<std::string>& p = *positional;
  if (flags.help_requested() || p.empty()) {
    (flags.help_requested() ? std::cout : std::cerr) << kUsage << flags.Usage();
    return flags.help_requested() ? 0 : 2;
  }
  Status s = Status::InvalidArgument("unknown command");
  if (p[0] == "discover" && p.size() == 1)
    s = Discover(flags);
  else if (p[0] == "cdi" && p.size() == 2 && p[1] == "generate")
    s = Generate(flags);
  else if (p[0] == "cdi" && p.size() == 2 && p[1] == "list")
    s = List(flags);
  else if (p[0] == "apply" && p.size() == 1)
    s = Apply(flags);
  else if (p[0] == "bench" && p.size() == 1)
    s = Bench(flags);
  if (!s.ok()) {
    std::cerr << "imgfs-gpu: " << s.ToString() << "\n";
    if (s.code() == Code::kInvalidArgument && s.message() == "unknown command") std::cerr << kUsage;
    return 1;
  }
  return 0;
}
