#include "gpu-hooks/apply.h"
#include "gpu-hooks/inject.h"
#include "gpu-hooks/request.h"
#include "gpu_test_util.h"

namespace imgfs::gpu {
namespace {

using nlohmann::json;

// A spec shaped like the generator's, built by hand so these tests need no root.
CdiSpec NvidiaSpec() {
  CdiSpec s;
  s.kind = kNvidiaGpuKind;
  s.annotations = {{kAnnotationDriverVersion, "550.54.14"}, {kAnnotationCudaVersion, "12.4"}};
  auto gpu = [](const std::string& name, int minor) {
    CdiDevice d{name, {{kAnnotationModel, "Tesla T4"}}, {}};
    d.edits.device_nodes.push_back(
        {"/dev/nvidia" + std::to_string(minor), "", "c", 195, minor, 0666, "rw", {}, {}});
    return d;
  };
  s.devices = {gpu("0", 1), gpu("1", 0), gpu("GPU-aaaa", 1), gpu("GPU-bbbb", 0)};
  CdiDevice all{"all", {}, {}};
  all.edits.device_nodes = {s.devices[0].edits.device_nodes[0], s.devices[1].edits.device_nodes[0]};
  s.devices.push_back(all);
  s.edits.device_nodes.push_back({"/dev/nvidiactl", "", "c", 195, 255, 0666, "rw", {}, {}});
  const std::vector<std::string> ro = {"ro", "nosuid", "nodev", "bind"};
  for (const char* p : {"/usr/lib/libcuda.so.550.54.14", "/usr/lib/libnvidia-ml.so.550.54.14",
                        "/usr/lib/libnvcuvid.so.550.54.14", "/usr/bin/nvidia-smi",
                        "/lib/firmware/nvidia/550.54.14/gsp.bin"}) {
    s.edits.mounts.push_back({p, p, "", ro});
  }
  s.edits.hooks.push_back(
      {"createContainer",
       "/usr/bin/imgfs-gpu-hook",
       {"imgfs-gpu-hook", "--link", "libcuda.so.550.54.14::/usr/lib/libcuda.so.1", "--link",
        "libnvcuvid.so.550.54.14::/usr/lib/libnvcuvid.so.1", "--folder", "/usr/lib"},
       {kHookPathEnv},
       {}});
  s.edits.env = {"NVIDIA_VISIBLE_DEVICES=void"};
  return s;
}

Result<CdiEdits> Resolve(const std::vector<std::string>& env, json annotations = json::object()) {
  json config = {{"process", {{"env", env}}}, {"annotations", annotations}};
  ASSIGN_OR_RETURN(GpuRequest req, GpuRequestFromConfig(config));
  return ResolveGpuRequest(req, CdiRegistry::FromSpecs({NvidiaSpec()}));
}

std::vector<std::string> NodePaths(const CdiEdits& e) {
  std::vector<std::string> out;
  for (const auto& n : e.device_nodes) out.push_back(n.path);
  return out;
}
bool HasMount(const CdiEdits& e, const std::string& suffix) {
  for (const auto& m : e.mounts) {
    if (m.container_path.ends_with(suffix)) return true;
  }
  return false;
}

TEST(GpuRequestTest, NothingRequested) {
  for (auto env :
       {std::vector<std::string>{}, {"NVIDIA_VISIBLE_DEVICES="}, {"NVIDIA_VISIBLE_DEVICES=void"}}) {
    auto e = Resolve(env);
    ASSERT_TRUE(e.ok());
    EXPECT_TRUE(e->empty());
  }
}

TEST(GpuRequestTest, AllIndicesAndUuids) {
  auto all = Resolve({"NVIDIA_VISIBLE_DEVICES=all"});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(NodePaths(*all),
            (std::vector<std::string>{"/dev/nvidiactl", "/dev/nvidia1", "/dev/nvidia0"}));
  auto one = Resolve({"NVIDIA_VISIBLE_DEVICES=1"});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(NodePaths(*one), (std::vector<std::string>{"/dev/nvidiactl", "/dev/nvidia0"}));
  auto uuid = Resolve({"NVIDIA_VISIBLE_DEVICES=GPU-aaaa, 1"});
  ASSERT_TRUE(uuid.ok());
  EXPECT_EQ(NodePaths(*uuid),
            (std::vector<std::string>{"/dev/nvidiactl", "/dev/nvidia1", "/dev/nvidia0"}));
  EXPECT_EQ(uuid->hooks.size(), 1u);  // spec-level edits once, not per device
}

TEST(GpuRequestTest, NoneGivesDriverButNoGpu) {
  auto e = Resolve({"NVIDIA_VISIBLE_DEVICES=none"});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(NodePaths(*e), std::vector<std::string>{"/dev/nvidiactl"});
  EXPECT_TRUE(HasMount(*e, "libcuda.so.550.54.14"));
}

TEST(GpuRequestTest, UnknownGpuIsOneClearLine) {
  auto e = Resolve({"NVIDIA_VISIBLE_DEVICES=7"});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Code::kNotFound);
  EXPECT_NE(e.status().message().find(
                "NVIDIA_VISIBLE_DEVICES: unknown GPU 7 (have 0, 1, GPU-aaaa, GPU-bbbb, all)"),
            std::string::npos)
      << e.status().message();
  EXPECT_EQ(Resolve({"NVIDIA_VISIBLE_DEVICES=0:1"}).status().code(), Code::kUnimplemented);
}

TEST(GpuRequestTest, CapabilitiesFilterDriverFiles) {
  auto def = Resolve({"NVIDIA_VISIBLE_DEVICES=0"});
  ASSERT_TRUE(def.ok());
  EXPECT_TRUE(HasMount(*def, "libcuda.so.550.54.14"));
  EXPECT_TRUE(HasMount(*def, "libnvidia-ml.so.550.54.14"));
  EXPECT_TRUE(HasMount(*def, "nvidia-smi"));
  EXPECT_TRUE(HasMount(*def, "gsp.bin"));
  EXPECT_FALSE(HasMount(*def, "libnvcuvid.so.550.54.14"));
  // The hook does not link what is not mounted.
  for (const auto& a : def->hooks[0].args) EXPECT_EQ(a.find("nvcuvid"), std::string::npos);

  auto util = Resolve({"NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_DRIVER_CAPABILITIES=utility"});
  ASSERT_TRUE(util.ok());
  EXPECT_FALSE(HasMount(*util, "libcuda.so.550.54.14"));
  EXPECT_TRUE(HasMount(*util, "nvidia-smi"));

  auto all = Resolve({"NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_DRIVER_CAPABILITIES=all"});
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(HasMount(*all, "libnvcuvid.so.550.54.14"));
  EXPECT_EQ(
      Resolve({"NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_DRIVER_CAPABILITIES=warp"}).status().code(),
      Code::kInvalidArgument);
}

TEST(GpuRequestTest, RequireCuda) {
  EXPECT_TRUE(Resolve({"NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_REQUIRE_CUDA=cuda>=12.0"}).ok());
  auto fail = Resolve({"NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_REQUIRE_CUDA=cuda>=12.6"});
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.status().message(),
            "unsatisfied condition: cuda>=12.6 (driver 550.54.14 supports CUDA 12.4; set "
            "NVIDIA_DISABLE_REQUIRE=true to skip the check)");
  EXPECT_TRUE(Resolve({"NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_REQUIRE_CUDA=cuda>=12.6",
                       "NVIDIA_DISABLE_REQUIRE=true"})
                  .ok());
  // Alternatives: the second (brand=tesla,driver>=535) holds.
  EXPECT_TRUE(Resolve({"NVIDIA_VISIBLE_DEVICES=0",
                       "NVIDIA_REQUIRE_CUDA=cuda>=12.6 brand=tesla,driver>=535"})
                  .ok());
  EXPECT_FALSE(Resolve({"NVIDIA_VISIBLE_DEVICES=0",
                        "NVIDIA_REQUIRE_CUDA=cuda>=12.6 brand=quadro,driver>=535"})
                   .ok());
  // CUDA_VERSION stands in for NVIDIA_REQUIRE_CUDA.
  EXPECT_FALSE(Resolve({"NVIDIA_VISIBLE_DEVICES=0", "CUDA_VERSION=12.8.1"}).ok());
  EXPECT_TRUE(Resolve({"NVIDIA_VISIBLE_DEVICES=0", "CUDA_VERSION=12.2.0"}).ok());
}

TEST(GpuRequestTest, CdiAnnotationsAndNames) {
  auto e = Resolve({}, {{"cdi.k8s.io/gpu", "nvidia.com/gpu=0,nvidia.com/gpu=all"}});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(NodePaths(*e),
            (std::vector<std::string>{"/dev/nvidiactl", "/dev/nvidia1", "/dev/nvidia0"}));
  EXPECT_TRUE(HasMount(*e, "libnvcuvid.so.550.54.14"));  // CDI names are not capability-filtered
  auto named = Resolve({"NVIDIA_VISIBLE_DEVICES=nvidia.com/gpu=GPU-bbbb"});
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(NodePaths(*named).back(), "/dev/nvidia0");
  auto bad = Resolve({}, {{"cdi.k8s.io/x", "nvidia.com/gpu=9"}});
  EXPECT_EQ(bad.status().code(), Code::kNotFound);
  EXPECT_FALSE(Resolve({}, {{"cdi.k8s.io/x", "garbage"}}).ok());
}

TEST(ApplyToSpecTest, WritesDevicesRulesMountsHooksEnv) {
  auto edits = Resolve({"NVIDIA_VISIBLE_DEVICES=0"});
  ASSERT_TRUE(edits.ok());
  // A hostile spec's hook env must not survive.
  edits->hooks[0].env = {"LD_PRELOAD=/evil.so", kHookPathEnv};
  json config = {
      {"process", {{"env", {"PATH=/bin", "NVIDIA_VISIBLE_DEVICES=0"}}}},
      {"linux", {{"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}}}}};
  ASSERT_TRUE(ApplyToSpec(config, *edits).ok());
  EXPECT_EQ(config["process"]["env"], json({"PATH=/bin", "NVIDIA_VISIBLE_DEVICES=void"}));
  ASSERT_EQ(config["linux"]["devices"].size(), 2u);
  EXPECT_EQ(config["linux"]["devices"][1], json({{"path", "/dev/nvidia1"},
                                                 {"type", "c"},
                                                 {"major", 195},
                                                 {"minor", 1},
                                                 {"fileMode", 0666},
                                                 {"uid", 0},
                                                 {"gid", 0}}));
  const json& rules = config["linux"]["resources"]["devices"];
  ASSERT_EQ(rules.size(), 3u);  // the deny-all first, then one allow per node
  EXPECT_EQ(rules[2],
            json({{"allow", true}, {"type", "c"}, {"major", 195}, {"minor", 1}, {"access", "rw"}}));
  ASSERT_FALSE(config["mounts"].empty());
  EXPECT_EQ(config["mounts"][0]["type"], "bind");
  EXPECT_EQ(config["mounts"][0]["options"], json({"ro", "nosuid", "nodev", "bind"}));
  ASSERT_EQ(config["hooks"]["createContainer"].size(), 1u);
  EXPECT_EQ(config["hooks"]["createContainer"][0]["env"], json({kHookPathEnv}));
  EXPECT_EQ(config["hooks"]["createContainer"][0]["path"], "/usr/bin/imgfs-gpu-hook");
  // Applying the result again is a no-op: the container now says void.
  auto again = GpuRequestFromConfig(config);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST(ApplyToSpecTest, MalformedConfigIsRefused) {
  auto edits = Resolve({"NVIDIA_VISIBLE_DEVICES=0"});
  ASSERT_TRUE(edits.ok());
  json config = {{"mounts", "not a list"}};
  EXPECT_EQ(ApplyToSpec(config, *edits).code(), Code::kInvalidArgument);
}

TEST(InjectGpusTest, FromCdiFilesUnderARoot) {
  std::string root = testing::MakeTempDir("gpu-inject");
  testing::WriteText(root + "/var/run/cdi/nvidia.json", CdiSpecToJson(NvidiaSpec()).dump());
  json config = {{"process", {{"env", {"NVIDIA_VISIBLE_DEVICES=all"}}}}};
  auto r = InjectGpus(config, root);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->requested);
  EXPECT_EQ(r->device_nodes, 3u);
  json plain = {{"process", {{"env", {"PATH=/bin"}}}}};
  json before = plain;
  auto none = InjectGpus(plain, root);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->requested);
  EXPECT_EQ(plain, before);
}

}  // namespace
}  // namespace imgfs::gpu
