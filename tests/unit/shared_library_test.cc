#include "core/shared_library.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace imgfs {
namespace {

TEST(SharedLibraryTest, BindsFunctionsOfALibraryItOpens) {
  SharedLibrary libc("libc.so.6", "libc6");
  pid_t (*get_pid)() = nullptr;
  libc.Bind(get_pid, "getpid");
  ASSERT_TRUE(libc.status().ok()) << libc.status().ToString();
  ASSERT_NE(get_pid, nullptr);
  EXPECT_EQ(get_pid(), ::getpid());
}

TEST(SharedLibraryTest, AMissingFunctionIsNamedAndLeftNull) {
  SharedLibrary libc("libc.so.6", "libc6");
  pid_t (*get_pid)() = nullptr;
  int (*first)() = nullptr;
  void (*second)(int) = nullptr;
  libc.Bind(get_pid, "getpid");
  libc.Bind(first, "imgfs_no_such_function");
  libc.Bind(second, "imgfs_nor_this_one");
  EXPECT_EQ(first, nullptr);
  EXPECT_EQ(second, nullptr);
  EXPECT_EQ(libc.status().code(), Code::kUnavailable);
  EXPECT_EQ(libc.status().message(),
            "libc.so.6 lacks imgfs_no_such_function, imgfs_nor_this_one (too old)");
}

TEST(SharedLibraryTest, ALibraryThatIsNotThereNamesItsPackage) {
  SharedLibrary none("libimgfs-absent.so.7", "libimgfs-absent7");
  int (*fn)() = reinterpret_cast<int (*)()>(1);
  none.Bind(fn, "anything");
  EXPECT_EQ(fn, nullptr);
  EXPECT_EQ(none.status().code(), Code::kUnavailable);
  EXPECT_EQ(none.status().message().rfind(
                "cannot load libimgfs-absent.so.7 (apt-get install libimgfs-absent7): ", 0),
            0u)
      << none.status().ToString();
}

}  // namespace
}  // namespace imgfs
