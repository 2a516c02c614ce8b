#include <sys/stat.h>

#include <filesystem>

#include "gpu-hooks/container_hook.h"
#include "gpu-hooks/ld_cache.h"
#include "gpu_test_util.h"

namespace imgfs::gpu {
namespace {

namespace fs = std::filesystem;
using testing::ReadText;
using testing::WriteText;

constexpr char kLib[] = "/usr/lib/x86_64-linux-gnu";

ContainerHookOptions Options(const std::string& rootfs) {
  ContainerHookOptions o;
  o.rootfs = rootfs;
  o.links = {{"libcuda.so.550.54.14", std::string(kLib) + "/libcuda.so.1"},
             {"libcuda.so.1", std::string(kLib) + "/libcuda.so"}};
  o.folders = {kLib};
  return o;
}

TEST(ContainerHookTest, LinksAndLdSoConfWithoutLdconfig) {
  std::string rootfs = testing::MakeTempDir("gpu-rootfs");
  fs::create_directories(rootfs + kLib);
  WriteText(rootfs + kLib + "/libcuda.so.550.54.14", "lib");
  auto report = RunContainerHook(Options(rootfs));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->links_created, 2);
  EXPECT_EQ(fs::read_symlink(rootfs + kLib + "/libcuda.so.1"), "libcuda.so.550.54.14");
  EXPECT_EQ(fs::read_symlink(rootfs + kLib + "/libcuda.so"), "libcuda.so.1");
  EXPECT_NE(ReadText(rootfs + "/etc/ld.so.conf.d/00-imgfs-gpu.conf").find(std::string(kLib) + "\n"),
            std::string::npos);
  EXPECT_EQ(ReadText(rootfs + "/etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n");
  EXPECT_FALSE(report->ldconfig_ran);  // the image has none: tolerated, with a warning
  ASSERT_EQ(report->warnings.size(), 1u);
  EXPECT_NE(report->warnings[0].find("no ldconfig"), std::string::npos);

  // Idempotent: a second run finds the links in place.
  auto again = RunContainerHook(Options(rootfs));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->links_present, 2);
}

TEST(ContainerHookTest, HostileSymlinksStayInsideTheRootfs) {
  std::string base = testing::MakeTempDir("gpu-hostile");
  std::string host = base + "/host";  // stands for the host's directories
  std::string rootfs = base + "/rootfs";
  fs::create_directories(host + "/lib");
  fs::create_directories(host + "/etc/ld.so.conf.d");
  WriteText(host + "/etc/ld.so.conf.d/00-imgfs-gpu.conf", "canary\n");
  fs::create_directories(rootfs + "/usr/lib");
  // The image's lib dir points at "/", its /etc at the host's etc (absolute), .. games too.
  fs::create_symlink("/", rootfs + "/usr/lib/x86_64-linux-gnu");
  fs::create_symlink(host + "/etc", rootfs + "/etc");
  fs::create_symlink("../../../../../../../../" + host.substr(1) + "/lib", rootfs + "/lib64");
  ContainerHookOptions o = Options(rootfs);
  o.links.push_back({"libx.so.1", "/lib64/libx.so"});
  auto report = RunContainerHook(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  // Writes landed inside the rootfs...
  EXPECT_TRUE(fs::is_symlink(rootfs + "/libcuda.so.1"));
  EXPECT_TRUE(fs::exists(rootfs + host + "/etc/ld.so.conf.d/00-imgfs-gpu.conf"));
  EXPECT_TRUE(fs::is_symlink(rootfs + host + "/lib/libx.so"));
  // ...and the host is untouched.
  EXPECT_EQ(ReadText(host + "/etc/ld.so.conf.d/00-imgfs-gpu.conf"), "canary\n");
  EXPECT_FALSE(fs::exists(host + "/etc/ld.so.conf"));
  EXPECT_TRUE(fs::is_empty(host + "/lib"));
  EXPECT_FALSE(fs::is_symlink("/libcuda.so.1"));
}

TEST(ContainerHookTest, RunsTheImagesLdconfigConfined) {
  REQUIRE_ROOT_USER();
  REQUIRE_FAKE_ROOT(driver);
  std::string ldconfig = fs::exists("/sbin/ldconfig") ? "/sbin/ldconfig" : "/usr/sbin/ldconfig";
  if (!fs::exists(ldconfig)) GTEST_SKIP() << "no ldconfig on this host";
  // Debian's ldconfig is static; a dynamic one would need its libc in the rootfs.
  if (std::system(
          ("ldd " + ldconfig + " 2>&1 | grep -q 'statically linked\\|not a dynamic'").c_str()) !=
      0) {
    GTEST_SKIP() << ldconfig << " is not static";
  }
  std::string rootfs = testing::MakeTempDir("gpu-ldconfig");
  fs::create_directories(rootfs + "/sbin");
  fs::copy_file(ldconfig, rootfs + "/sbin/ldconfig");
  fs::create_directories(rootfs + kLib);
  fs::copy_file(driver + kLib + "/libcuda.so.550.54.14", rootfs + kLib + "/libcuda.so.550.54.14");
  fs::create_directories(rootfs + "/proc");
  auto report = RunContainerHook(Options(rootfs));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ldconfig_ran) << (report->warnings.empty() ? "" : report->warnings[0]);
  auto cache = ReadLdCache(rootfs + "/etc/ld.so.cache");
  ASSERT_TRUE(cache.ok()) << cache.status().ToString();
  bool found = false;
  for (const auto& e : *cache)
    found |= e.soname == "libcuda.so.1" && e.path == std::string(kLib) + "/libcuda.so.1";
  EXPECT_TRUE(found);
}

TEST(ContainerHookTest, ArgsAndState) {
  auto o =
      ParseContainerHookArgs({"--link", "a.so.1::/lib/a.so", "--folder", "/lib", "--no-ldconfig"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->links[0].second, "/lib/a.so");
  EXPECT_FALSE(o->run_ldconfig);
  EXPECT_FALSE(ParseContainerHookArgs({"--link", "nocolons"}).ok());
  EXPECT_FALSE(ParseContainerHookArgs({"--folder", "relative"}).ok());
  EXPECT_FALSE(ParseContainerHookArgs({"--frobnicate"}).ok());

  std::string bundle = testing::MakeTempDir("gpu-bundle");
  WriteText(bundle + "/config.json", R"({"root": {"path": "rootfs"}})");
  auto rootfs =
      RootfsFromState(R"({"ociVersion":"1.2.0","id":"c","pid":1,"bundle":")" + bundle + "\"}");
  ASSERT_TRUE(rootfs.ok()) << rootfs.status().ToString();
  EXPECT_EQ(*rootfs, bundle + "/rootfs");
  EXPECT_FALSE(RootfsFromState("{}").ok());
}

TEST(ContainerHookTest, BinaryIgnoresItsEnvironmentAndReadsState) {
  std::string bundle = testing::MakeTempDir("gpu-bin");
  fs::create_directories(bundle + "/rootfs/lib");
  WriteText(bundle + "/config.json", R"({"root": {"path": "rootfs"}})");
  WriteText(bundle + "/state.json",
            R"({"ociVersion":"1.2.0","id":"c","bundle":")" + bundle + "\"}");
  // LD_PRELOAD of a missing library would make the loader complain; the hook itself must not
  // care about anything else in its environment.
  std::string cmd = "env -i IMGFS_ANYTHING=1 " + std::string(IMGFS_GPU_HOOK_BIN) +
                    " --link a.so.1::/lib/a.so --folder /lib < " + bundle + "/state.json 2>" +
                    bundle + "/err";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << ReadText(bundle + "/err");
  EXPECT_EQ(fs::read_symlink(bundle + "/rootfs/lib/a.so"), "a.so.1");
}

}  // namespace
}  // namespace imgfs::gpu
