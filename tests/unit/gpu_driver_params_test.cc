#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gpu-hooks/driver_params.h"

namespace imgfs::gpu {
namespace {

TEST(DriverParamsTest, ModifyDeviceFilesBecomesZeroAndTheRestIsKept) {
  EXPECT_EQ(ContainerDriverParams(
                "ResmanDebugLevel: 4294967295\nModifyDeviceFiles: 1\nDeviceFileUID: 0\n"),
            "ResmanDebugLevel: 4294967295\nModifyDeviceFiles: 0\nDeviceFileUID: 0\n");
  EXPECT_EQ(ContainerDriverParams("DeviceFileMode: 438"),
            "DeviceFileMode: 438\nModifyDeviceFiles: 0\n");
}

TEST(DriverParamsTest, ARootfsWhoseProcIsNotProcfsIsLeftAlone) {
  // A hostile image could ship proc/driver/nvidia/params as a plain file or a symlink to a host
  // path: nothing is mounted or written unless ROOTFS/proc is procfs.
  char tmpl[] = "/tmp/gpu-params-XXXXXX";
  std::string root = ::mkdtemp(tmpl);
  std::filesystem::create_directories(root + "/proc/driver/nvidia");
  std::ofstream(root + "/proc/driver/nvidia/params") << "ModifyDeviceFiles: 1\n";
  auto r = MaskDriverParams(root, root + "/scratch");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(*r);
  EXPECT_FALSE(std::filesystem::exists(root + "/scratch"));
  std::filesystem::remove_all(root + "/proc");
  std::filesystem::create_directory_symlink("/proc", root + "/proc");  // a symlink to the host's
  r = MaskDriverParams(root, root + "/scratch");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace imgfs::gpu
