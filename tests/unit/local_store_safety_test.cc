// The local store against a hostile or hard environment: what other local users can read of it
// (every file the owner's alone), a chunk asked for with a length other than its own, and a
// disk that fills up under it (the store recovers once space is back, without a restart).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/chunk_codec.h"
#include "imgfs/local_store.h"
#include "tests/unit/daemon_test_util.h"
#include "tests/unit/remote_test_util.h"

namespace imgfs {
namespace {

using testing::NoiseBytes;
using testing::ScratchDir;

// Every path under `root` with group or other permission bits, with its mode.
std::vector<std::string> OpenToOthers(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    struct stat st;
    if (::lstat(e.path().c_str(), &st) != 0 || S_ISLNK(st.st_mode) || S_ISSOCK(st.st_mode))
      continue;
    if (st.st_mode & 077) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      out.push_back(e.path().string() + " " + mode);
    }
  }
  return out;
}

class UmaskZero {
 public:
  UmaskZero() : old_(::umask(0)) {}
  ~UmaskZero() { ::umask(old_); }

 private:
  mode_t old_;
};

// Even under umask 000, a store after a conversion, a collection, a trace and a reopen has no
// file or directory that anyone but its owner may read.
TEST(LocalStoreSafetyTest, EveryFileOfAStoreIsTheOwnersAlone) {
  UmaskZero umask0;
  ScratchDir dir;
  const std::string src = dir.path() + "/src", path = dir.path() + "/store";
  testing::MakeSourceTree(src, 16);
  {
    auto store = store::LocalStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto index = testing::ConvertTree(src, **store);
    ASSERT_NE(index, nullptr);
    ASSERT_TRUE((*store)->PublishIndex(*index, "img").ok());
    ASSERT_TRUE((*store)->PutTrace(index->digest(), "trace\n").ok());
    ASSERT_TRUE((*store)->GarbageCollect().ok());
  }
  ASSERT_TRUE(std::filesystem::exists(path + "/data"));
  std::vector<std::string> open = OpenToOthers(path);
  EXPECT_TRUE(open.empty()) << open.size() << " paths open to others, e.g. " << open[0];
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

// A store made wider by an older version or by hand (0755 directories, 0644 files) is made
// private at the next writable open.
TEST(LocalStoreSafetyTest, AWiderStoreIsTightenedWhenOpened) {
  UmaskZero umask0;
  ScratchDir dir;
  const std::string path = dir.path() + "/store";
  { ASSERT_TRUE(store::LocalStore::Open(path).ok()); }
  ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
  ASSERT_EQ(::chmod((path + "/data").c_str(), 0755), 0);
  std::ofstream(path + "/data/stray") << "x";
  ASSERT_EQ(::chmod((path + "/data/stray").c_str(), 0644), 0);
  for (const auto& e : std::filesystem::directory_iterator(path))
    if (e.is_regular_file()) ::chmod(e.path().c_str(), 0644);
  ASSERT_FALSE(OpenToOthers(path).empty());
  { ASSERT_TRUE(store::LocalStore::Open(path).ok()); }
  std::vector<std::string> open = OpenToOthers(path);
  EXPECT_TRUE(open.empty()) << open.size() << " paths open to others, e.g. " << open[0];
}

TEST(LocalStoreSafetyTest, AStoreOwnedBySomeoneElseIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a directory away";
  ScratchDir dir;
  const std::string path = dir.path() + "/store";
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  ASSERT_EQ(::chown(path.c_str(), 4242, 4242), 0);
  auto store = store::LocalStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kPermissionDenied) << store.status().ToString();
  EXPECT_NE(store.status().message().find("owned by uid 4242"), std::string::npos);
}

// A chunk's identity is its digest and its length: asked for with another length, the store
// answers InvalidArgument (the asker's record is wrong) and keeps the chunk.
TEST(LocalStoreSafetyTest, AChunkAskedForWithAnotherLengthIsInvalidArgumentAndKept) {
  ScratchDir dir;
  auto store = store::LocalStore::Open(dir.path() + "/store");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (size_t size : {size_t{3000}, size_t{40000}}) {  // in RocksDB, in a data file
    const std::string raw = NoiseBytes(size, size);
    const Digest d = Sha256(raw);
    ASSERT_TRUE((*store)->PutChunk(d, uint32_t(size), raw).ok());
    for (uint32_t lie : {uint32_t(size - 1), uint32_t(size + 1)}) {
      auto got = (*store)->ReadChunk(d, lie);
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.status().code(), Code::kInvalidArgument) << got.status().ToString();
    }
    auto got = (*store)->ReadChunk(d, uint32_t(size));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(**got == raw);
    EXPECT_TRUE(*(*store)->HasChunk(d));
  }
}

// --- A full disk ---

// Run in a child of its own (`unshare -m`, a private mount namespace) on a small tmpfs: fill it,
// see writes fail, free the space, and the same open store writes again.
void DiskFullScenario() {
  ScratchDir dir;
  ASSERT_EQ(::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=64m,mode=0700"), 0)
      << "mount tmpfs: " << std::strerror(errno);
  auto opened = store::LocalStore::Open(dir.path() + "/store");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store::LocalStore& store = **opened;
  auto put = [&](size_t size, uint64_t seed) {
    const std::string raw = NoiseBytes(size, seed);
    Status s = store.PutChunk(Sha256(raw), uint32_t(size), raw);
    if (s.ok()) s = store.SyncChunks();
    return s;
  };
  ASSERT_TRUE(put(3000, 1).ok());

  {  // The disk fills up.
    int fd = ::open((dir.path() + "/filler").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    const std::string block(1 << 16, 'f');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    ASSERT_EQ(errno, ENOSPC);
    ::close(fd);
  }
  for (uint64_t seed = 2; seed < 6; ++seed) {
    Status s = put(3000, seed);
    EXPECT_FALSE(s.ok()) << "a write succeeded on a full disk";
  }
  Status large = put(40000, 9);
  EXPECT_FALSE(large.ok());
  const std::string first = NoiseBytes(3000, 1);
  auto read = store.ReadChunk(Sha256(first), 3000);
  ASSERT_TRUE(read.ok()) << "reads must go on: " << read.status().ToString();

  // Space is back: the next writes succeed, with no reopen.
  ASSERT_EQ(::unlink((dir.path() + "/filler").c_str()), 0);
  for (uint64_t seed = 10; seed < 13; ++seed) {
    Status s = put(3000, seed);
    EXPECT_TRUE(s.ok()) << "after space was freed: " << s.ToString();
  }
  Status s = put(40000, 20);
  EXPECT_TRUE(s.ok()) << "after space was freed: " << s.ToString();
  EXPECT_TRUE(store.PutTrace(Sha256("i"), "t\n").ok());
  auto trace = store.GetTrace(Sha256("i"));
  ASSERT_TRUE(trace.ok()) << trace.status().ToString();
  EXPECT_EQ(*trace, "t\n");
  const std::string later = NoiseBytes(3000, 10);
  auto got = store.ReadChunk(Sha256(later), 3000);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(**got == later);
  auto gc = store.GarbageCollect();
  EXPECT_TRUE(gc.ok()) << gc.status().ToString();
  opened->reset();
  ASSERT_EQ(::umount2(dir.path().c_str(), MNT_DETACH), 0);
}

TEST(LocalStoreSafetyTest, AFullDiskIsRecoveredFromOnceSpaceIsFree) {
  if (std::getenv("IMGFS_DISK_FULL_CHILD")) return DiskFullScenario();
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
  if (::access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "no unshare(1)";
  // gtest_filter for this test only; the child's output is shown on failure.
  const std::string cmd =
      "IMGFS_DISK_FULL_CHILD=1 /usr/bin/unshare -m --propagation private /proc/" +
      std::to_string(::getpid()) +
      "/exe --gtest_filter=LocalStoreSafetyTest.AFullDiskIsRecoveredFromOnceSpaceIsFree 2>&1";
  FILE* child = ::popen(cmd.c_str(), "r");
  ASSERT_NE(child, nullptr);
  std::string output;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, child)) output.append(buf, n);
  int status = ::pclose(child);
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 0) << output;
  EXPECT_NE(output.find("[  PASSED  ] 1 test"), std::string::npos) << output;
}

}  // namespace
}  // namespace imgfs
