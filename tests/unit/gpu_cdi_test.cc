#include <filesystem>

#include "gpu-hooks/cdi.h"
#include "gpu-hooks/cdi_registry.h"
#include "gpu-hooks/yaml.h"
#include "gpu_test_util.h"

namespace imgfs::gpu {
namespace {

using nlohmann::json;
using testing::ReadText;
using testing::WriteText;

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
  return s;
}

Result<CdiSpec> FakeSpec(const std::string& root) {
  ASSIGN_OR_RETURN(DriverInfo info, DiscoverDriver(root));
  GenerateOptions o;
  o.hook_path = "/usr/bin/imgfs-gpu-hook";
  return GenerateNvidiaSpec(info, o);
}

// Compares TEXT (with the fake root replaced by @ROOT@) with tests/gpu/golden/NAME;
// IMGFS_UPDATE_GOLDEN=1 rewrites the golden file instead.
void ExpectGolden(const std::string& root, const std::string& text, const std::string& name) {
  std::string path = std::string(IMGFS_SOURCE_DIR) + "/tests/gpu/golden/" + name;
  std::string got = ReplaceAll(text, root, "@ROOT@");
  if (std::getenv("IMGFS_UPDATE_GOLDEN")) {
    WriteText(path, got);
    GTEST_SKIP() << "rewrote " << path;
  }
  EXPECT_EQ(got, ReadText(path))
      << "regenerate with IMGFS_UPDATE_GOLDEN=1 if the change is intended";
}

TEST(CdiGoldenTest, JsonAndYamlForTheFakeDriver) {
  REQUIRE_ROOT_USER();  // the golden spec has the device nodes only root can make
  REQUIRE_FAKE_ROOT(root);
  auto spec = FakeSpec(root);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  ExpectGolden(root, CdiSpecToJson(*spec).dump(2) + "\n", "nvidia.json");
  ExpectGolden(root, CdiSpecToYaml(*spec), "nvidia.yaml");
}

TEST(CdiSpecTest, GeneratedSpecShape) {
  REQUIRE_ROOT_USER();
  REQUIRE_FAKE_ROOT(root);
  auto spec = FakeSpec(root);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->kind, "nvidia.com/gpu");
  EXPECT_EQ(spec->cdi_version, "0.6.0");
  std::vector<std::string> names;
  for (const auto& d : spec->devices) names.push_back(d.name);
  EXPECT_EQ(names, (std::vector<std::string>{"0", "1", "GPU-4a0c3e02-7f6c-1c7e-2f7e-8d1a9b5c6d01",
                                             "GPU-9b1d4f13-0a7d-2d8f-3a8f-9e2b0c6d7e02", "all"}));
  // Index 0 is the GPU on bus 3b whose minor is 1.
  ASSERT_EQ(spec->devices[0].edits.device_nodes.size(), 1u);
  EXPECT_EQ(spec->devices[0].edits.device_nodes[0].path, "/dev/nvidia1");
  EXPECT_EQ(spec->devices[0].edits.device_nodes[0].minor, 1);
  EXPECT_EQ(spec->devices.back().edits.device_nodes.size(), 2u);
  for (const CdiMount& m : spec->edits.mounts) {
    EXPECT_EQ(m.host_path, root + m.container_path);
    EXPECT_EQ(m.options[0], "ro");
  }
  ASSERT_EQ(spec->edits.hooks.size(), 1u);
  EXPECT_EQ(spec->edits.hooks[0].env, std::vector<std::string>{kHookPathEnv});
  EXPECT_EQ(spec->edits.env, std::vector<std::string>{"NVIDIA_VISIBLE_DEVICES=void"});
}

TEST(CdiSpecTest, JsonAndYamlRoundTrip) {
  REQUIRE_FAKE_ROOT(root);
  auto spec = FakeSpec(root);
  ASSERT_TRUE(spec.ok());
  json j = CdiSpecToJson(*spec);
  auto from_yaml = ParseYaml(CdiSpecToYaml(*spec));
  ASSERT_TRUE(from_yaml.ok()) << from_yaml.status().ToString();
  EXPECT_EQ(*from_yaml, j);
  auto back = CdiSpecFromJson(*from_yaml);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(CdiSpecToJson(*back), j);
}

TEST(YamlTest, HandWrittenSpecInNvidiaCtkStyle) {
  const char* text = R"(---
# comment
cdiVersion: 0.5.0
kind: 'example.com/dev'
devices:
- name: "a"       # sequence at its key's indent
  containerEdits:
    deviceNodes:
    - path: /dev/a
      major: 10
      minor: +3
    env: [FOO=1, "BAR=two words"]
containerEdits:
  mounts:
  - hostPath: /lib/x.so
    containerPath: /lib/x.so
    options: [ro, nosuid, nodev, bind]
  hooks: []
)";
  auto j = ParseYaml(text);
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ((*j)["cdiVersion"], "0.5.0");
  EXPECT_EQ((*j)["kind"], "example.com/dev");
  EXPECT_EQ((*j)["devices"][0]["containerEdits"]["deviceNodes"][0]["minor"], 3);
  EXPECT_EQ((*j)["devices"][0]["containerEdits"]["env"][1], "BAR=two words");
  EXPECT_EQ((*j)["containerEdits"]["mounts"][0]["options"].size(), 4u);
  auto spec = CdiSpecFromJson(*j);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->devices[0].edits.device_nodes[0].major, 10);
}

TEST(YamlTest, UnsupportedFeaturesAreRefusedWithTheLine) {
  auto a = ParseYaml("a: &anchor 1\nb: *anchor\n");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("line 1"), std::string::npos);
  EXPECT_FALSE(ParseYaml("a: |\n  text\n").ok());
  EXPECT_FALSE(ParseYaml("a: 1\n---\nb: 2\n").ok());
  EXPECT_FALSE(ParseYaml("a:\n\t- 1\n").ok());
  EXPECT_FALSE(ParseYaml("a: 1\n   b: 2\n").ok());
}

TEST(YamlTest, EmitterQuotesWhatWouldChangeMeaning) {
  json j = {{"s", {"true", "12", "0.6.0", "a: b", "-x", "", "plain/path.so", "x #y"}}};
  std::string y = EmitYaml(j);
  auto back = ParseYaml(y);
  ASSERT_TRUE(back.ok()) << y;
  EXPECT_EQ(*back, j) << y;
  EXPECT_NE(y.find("- plain/path.so"), std::string::npos);
}

class CdiRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = testing::MakeTempDir("gpu-cdi"); }
  void Put(const std::string& path, const std::string& device, const std::string& env) {
    WriteText(root_ + path,
              json({{"cdiVersion", "0.6.0"},
                    {"kind", "vendor.com/dev"},
                    {"devices", {{{"name", device}, {"containerEdits", {{"env", {env}}}}}}}})
                  .dump());
  }
  std::string root_;
};

TEST_F(CdiRegistryTest, VarRunOverridesEtc) {
  Put("/etc/cdi/a.json", "x", "FROM=etc");
  Put("/var/run/cdi/a.json", "x", "FROM=run");
  Put("/etc/cdi/b.json", "y", "FROM=etc");
  auto reg = CdiRegistry::Load(root_);
  ASSERT_TRUE(reg.ok());
  auto x = reg->Find("vendor.com/dev=x");
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->device->edits.env[0], "FROM=run");
  EXPECT_TRUE(reg->Find("vendor.com/dev=y").ok());
  EXPECT_EQ(reg->Find("vendor.com/dev=z").status().code(), Code::kNotFound);
  EXPECT_EQ(reg->Find("no-kind").status().code(), Code::kInvalidArgument);
}

TEST_F(CdiRegistryTest, SameDirectoryConflictAndBadFiles) {
  Put("/etc/cdi/a.json", "x", "A=1");
  Put("/etc/cdi/b.json", "x", "B=1");
  WriteText(root_ + "/etc/cdi/broken.yaml", "kind: [\n");
  Put("/etc/cdi/c.yaml.bak", "q", "IGNORED=1");
  auto reg = CdiRegistry::Load(root_);
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ(reg->Find("vendor.com/dev=x").status().code(), Code::kAlreadyExists);
  EXPECT_EQ(reg->errors().size(), 2u);  // the conflict and the broken file
  EXPECT_EQ(reg->DeviceNames(), std::vector<std::string>{"vendor.com/dev=x"});
}

}  // namespace
}  // namespace imgfs::gpu
