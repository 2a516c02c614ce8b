// Shared by the gpu_*_test.cc files: a fake NVIDIA driver root built once per test binary by
// tests/gpu/make_fake_driver.sh, and small file helpers.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace imgfs::gpu::testing {

inline std::string MakeTempDir(const char* tag) {
  std::string tmpl = std::string(::testing::TempDir()) + "/" + tag + ".XXXXXX";
  char* d = ::mkdtemp(tmpl.data());
  return d ? std::string(d) : std::string();
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteText(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

// The fake driver root, or "" with the reason in *why (script missing tools -> exit 77).
inline const std::string& FakeDriverRoot(std::string* why = nullptr) {
  static std::string reason;
  static const std::string root = [] {
    std::string dir = MakeTempDir("gpu-fake-root");
    std::string cmd =
        std::string(IMGFS_SOURCE_DIR) + "/tests/gpu/make_fake_driver.sh " + dir + "/root";
    int rc = std::system(cmd.c_str());
    if (rc != 0) {
      reason = "make_fake_driver.sh failed (" + std::to_string(rc) + "): needs cc and ldconfig";
      return std::string();
    }
    return dir + "/root";
  }();
  if (why) *why = reason;
  return root;
}

inline bool HaveDeviceNodes() { return ::geteuid() == 0; }

}  // namespace imgfs::gpu::testing

#define REQUIRE_FAKE_ROOT(var)                                                \
  std::string var##_why;                                                      \
  const std::string& var = ::imgfs::gpu::testing::FakeDriverRoot(&var##_why); \
  if (var.empty()) GTEST_SKIP() << var##_why
#define REQUIRE_ROOT_USER() \
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mknod, mount namespaces)"
