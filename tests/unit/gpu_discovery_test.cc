#include <sys/sysmacros.h>

#include <filesystem>

#include "gpu-hooks/discovery.h"
#include "gpu_test_util.h"

namespace imgfs::gpu {
namespace {

TEST(DiscoveryTest, FindsTheFakeDriver) {
  REQUIRE_FAKE_ROOT(root);
  auto info = DiscoverDriver(root);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->version, "550.54.14");
  EXPECT_EQ(info->cuda_version, "12.4");
  EXPECT_EQ(info->majors.at("nvidia-uvm"), 508u);
  EXPECT_EQ(info->majors.at("nvidia-caps"), 234u);
  ASSERT_EQ(info->gpus.size(), 2u);
  // Index follows the PCI bus, not the minor.
  EXPECT_EQ(info->gpus[0].bus_id, "0000:3b:00.0");
  EXPECT_EQ(info->gpus[0].minor, 1);
  EXPECT_EQ(info->gpus[0].uuid, "GPU-4a0c3e02-7f6c-1c7e-2f7e-8d1a9b5c6d01");
  EXPECT_EQ(info->gpus[0].model, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(info->gpus[1].minor, 0);

  std::vector<std::string> libs;
  for (const DriverFile& f : info->libraries) libs.push_back(f.path.substr(f.path.rfind('/') + 1));
  EXPECT_EQ(libs.size(), 18u);
  EXPECT_EQ(std::count(libs.begin(), libs.end(), "libcuda.so.550.54.14"), 1);
  EXPECT_EQ(std::count(libs.begin(), libs.end(), "libz.so.1.2.13"), 0);
  for (const DriverFile& f : info->libraries) {
    if (f.path.ends_with("libcuda.so.550.54.14")) {
      EXPECT_EQ(f.capability, Capability::kCompute);
      EXPECT_EQ(f.soname, "libcuda.so.1");
    }
    if (f.path.ends_with("libnvidia-ml.so.550.54.14")) {
      EXPECT_EQ(f.capability, Capability::kUtility);
    }
    if (f.path.ends_with("libnvcuvid.so.550.54.14")) {
      EXPECT_EQ(f.capability, Capability::kVideo);
    }
    if (f.path.ends_with("libGLX_nvidia.so.550.54.14")) {
      EXPECT_EQ(f.capability, Capability::kGraphics);
    }
  }
  EXPECT_EQ(info->binaries.size(), 5u);
  EXPECT_EQ(info->firmware.size(), 2u);
  EXPECT_EQ(info->ipc.size(), 2u);

  if (testing::HaveDeviceNodes()) {
    ASSERT_TRUE(info->gpus[0].node.has_value());
    EXPECT_EQ(info->gpus[0].node->path, "/dev/nvidia1");
    EXPECT_EQ(info->gpus[0].node->major, 195u);
    EXPECT_EQ(info->gpus[0].node->minor, 1u);
    ASSERT_EQ(info->control_nodes.size(), 5u);
    EXPECT_EQ(info->control_nodes[1].path, "/dev/nvidia-uvm");
    EXPECT_EQ(info->control_nodes[1].major, 508u);  // from st_rdev
    EXPECT_TRUE(info->warnings.empty()) << info->warnings[0];
  }
}

TEST(DiscoveryTest, NoDriverIsNotFound) {
  std::string empty = testing::MakeTempDir("gpu-empty");
  EXPECT_EQ(DiscoverDriver(empty).status().code(), Code::kNotFound);
}

TEST(DiscoveryTest, VersionFromLibcudaWhenProcIsSilent) {
  REQUIRE_FAKE_ROOT(root);
  std::string copy = testing::MakeTempDir("gpu-copy") + "/root";
  std::filesystem::create_directories(copy);
  std::filesystem::copy(root + "/etc", copy + "/etc", std::filesystem::copy_options::recursive);
  std::filesystem::copy(
      root + "/usr", copy + "/usr",
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::copy_symlinks);
  auto info = DiscoverDriver(copy);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->version, "550.54.14");
  EXPECT_TRUE(info->gpus.empty());
}

TEST(DiscoveryTest, StaleNodeMajorIsReported) {
  REQUIRE_ROOT_USER();
  REQUIRE_FAKE_ROOT(root);
  std::string copy = testing::MakeTempDir("gpu-stale") + "/root";
  std::filesystem::create_directories(copy + "/dev");
  std::filesystem::create_directories(copy + "/proc/driver/nvidia");
  std::filesystem::copy(root + "/proc/devices", copy + "/proc/devices");
  std::filesystem::copy(root + "/proc/driver/nvidia/version", copy + "/proc/driver/nvidia/version");
  ASSERT_EQ(::mknod((copy + "/dev/nvidia-uvm").c_str(), S_IFCHR | 0666, makedev(499, 0)), 0);
  auto info = DiscoverDriver(copy);
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->control_nodes.size(), 1u);
  EXPECT_EQ(info->control_nodes[0].major, 499u);  // the node is what it is
  bool warned = false;
  for (const auto& w : info->warnings) warned |= w.find("stale") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST(DiscoveryTest, Parsers) {
  EXPECT_EQ(ParseDriverVersionFile(
                "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 "
                "01:44:30 UTC 2024\n"),
            "550.54.14");
  EXPECT_EQ(ParseDriverVersionFile("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  "
                                   "570.86.15  Release Build\n"),
            "570.86.15");
  EXPECT_EQ(DriverVersionFromLibName("libcuda.so.535.104.05"), "535.104.05");
  EXPECT_EQ(DriverVersionFromLibName("libcuda.so.1"), std::nullopt);
  EXPECT_EQ(MaxCudaVersionForDriver("550.54.14"), "12.4");
  EXPECT_EQ(MaxCudaVersionForDriver("535.104.05"), "12.2");
  EXPECT_EQ(MaxCudaVersionForDriver("999.1"), "13.0");
  EXPECT_EQ(MaxCudaVersionForDriver("390.1"), "");
  EXPECT_LT(CompareVersions("12.4", "12.10"), 0);
  EXPECT_EQ(CompareVersions("12.0", "12"), 0);
  EXPECT_EQ(ClassifyDriverFile("libnvidia-pkcs11-openssl3.so.550"), Capability::kCompute);
  EXPECT_EQ(ClassifyDriverFile("libnvidia-fbc.so.1"), Capability::kDisplay);
  EXPECT_EQ(ClassifyDriverFile("libcudart.so.12"), std::nullopt);
  EXPECT_EQ(ClassifyDriverFile("nvidia-smi"), Capability::kUtility);
}

}  // namespace
}  // namespace imgfs::gpu
