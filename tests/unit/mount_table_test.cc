#include <gtest/gtest.h>

#include "imgfs/daemon/mount_point.h"

namespace imgfs::daemon {
namespace {

TEST(MountTableTest, ParsesFieldsAndUnescapes) {
  const std::string text =
      "22 1 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n"
      "90 29 0:50 / /srv/a\\040b rw,nosuid,nodev,relatime - fuse.imgfs "
      "imgfs:/var/lib/my\\040store ro,user_id=0\n"
      "91 29 0:51 / /srv/c rw master:1 shared:2 - overlay overlay rw,lowerdir=/x\n"
      "garbage\n";
  std::vector<MountEntry> table = ParseMountInfo(text);
  ASSERT_EQ(table.size(), 3u);
  EXPECT_EQ(table[1].point, "/srv/a b");
  EXPECT_EQ(table[1].type, "fuse.imgfs");
  EXPECT_EQ(table[1].source, "imgfs:/var/lib/my store");
  EXPECT_EQ(table[2].point, "/srv/c");  // optional fields skipped
  EXPECT_EQ(table[2].type, "overlay");
  EXPECT_EQ(table[2].options, "rw,lowerdir=/x");
}

TEST(MountTableTest, OverlayLowerDirs) {
  std::vector<MountEntry> table = ParseMountInfo(
      "90 29 0:50 / /c1 rw - overlay overlay rw,lowerdir=/s/mounts/a:/s/mounts/b,upperdir=/u,"
      "workdir=/w\n"
      "91 29 0:51 / /c2 rw - overlay overlay rw,lowerdir+=/s/mounts/d,datadir+=/s/mounts/e\n"
      "92 29 0:52 / /s/mounts/c rw - fuse.imgfs imgfs:/s rw,lowerdir=/s/mounts/c\n");
  EXPECT_TRUE(OverlayUsesLower(table, "/s/mounts/a"));
  EXPECT_TRUE(OverlayUsesLower(table, "/s/mounts/b"));
  EXPECT_TRUE(OverlayUsesLower(table, "/s/mounts/d"));
  EXPECT_TRUE(OverlayUsesLower(table, "/s/mounts/e"));
  EXPECT_FALSE(OverlayUsesLower(table, "/s/mounts"));    // a prefix is not the dir
  EXPECT_FALSE(OverlayUsesLower(table, "/u"));           // an upper dir is not a lower one
  EXPECT_FALSE(OverlayUsesLower(table, "/s/mounts/c"));  // only overlays count
}

TEST(MountTableTest, SourceNamesTheStore) {
  EXPECT_EQ(MountSource("/nonexistent/store-x"), "imgfs:/nonexistent/store-x");
  EXPECT_EQ(MountSource("/"), "imgfs:/");
}

}  // namespace
}  // namespace imgfs::daemon
