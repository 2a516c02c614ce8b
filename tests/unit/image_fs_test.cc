#include "imgfs/daemon/image_fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "core/clock.h"
#include "imgfs/daemon/chunk_fetcher.h"
#include "tests/unit/daemon_test_util.h"

namespace imgfs {
namespace {

using testing::FakeRemote;
using testing::ImageBuilder;
using testing::LyingIndex;
using testing::NoiseBytes;
using testing::RangeRequest;
using testing::ScratchDir;
using testing::TextBytes;

constexpr size_t kChunk = 4096;

// The image (index inode numbers; ImageFs numbers are one more):
//   /            0
//   /bin/        1
//   /bin/tool    2  chunks 0-2 (pack 0), 3 x 4096 noise, nlink 2
//   /etc/        3  xattr user.dir
//   /etc/conf    4  chunks 3 (5000 text), 4 (3000 noise) (pack 0); two xattrs
//   /etc/empty   5  no chunks
//   /etc/hard    -> inode 2 (a hard link)
//   /link        6  symlink to "etc/conf"
//   /big         7  chunks 5-10 (pack 1), 6 x 4096 noise
class ImageFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::LocalStore::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();

    for (int i = 0; i < 3; ++i) tool_chunks_.push_back(builder_.AddChunk(NoiseBytes(kChunk, i)));
    conf_chunks_.push_back(builder_.AddChunk(TextBytes(5000, 3)));
    conf_chunks_.push_back(builder_.AddChunk(NoiseBytes(3000, 4)));
    builder_.StartPack();
    for (int i = 0; i < 6; ++i)
      big_chunks_.push_back(builder_.AddChunk(NoiseBytes(kChunk, 10 + i)));

    uint32_t bin = builder_.AddDir(0, "bin");
    uint32_t tool = builder_.AddFile(bin, "tool", tool_chunks_, 0755);
    uint32_t etc = builder_.AddDir(0, "etc", 0750);
    builder_.SetXattrs(etc, {{"user.dir", "d"}});
    uint32_t conf = builder_.AddFile(etc, "conf", conf_chunks_);
    builder_.SetXattrs(conf, {{"user.a", "1"}, {"security.selinux", "system_u:object_r:etc_t:s0"}});
    builder_.AddFile(etc, "empty", {});
    builder_.AddHardlink(etc, "hard", tool);
    builder_.AddSymlink(0, "link", "etc/conf");
    builder_.AddFile(0, "big", big_chunks_);
    index_ = builder_.Finish(&remote_);
    ASSERT_NE(index_, nullptr);

    fetcher_ = std::make_unique<daemon::ChunkFetcher>(*store_, daemon::FetcherOptions{}, clock_);
    fs_ = std::make_unique<daemon::ImageFs>(index_, *fetcher_, &remote_, nullptr);
  }

  // The ImageFs inode of a path, or 0.
  uint64_t Ino(daemon::ImageFs& fs, std::string_view path) {
    uint64_t ino = daemon::ImageFs::kRootIno;
    while (!path.empty()) {
      size_t slash = path.find('/');
      std::string_view name = path.substr(0, slash);
      if (fs.Lookup(ino, name, &ino) != 0) return 0;
      path = slash == std::string_view::npos ? "" : path.substr(slash + 1);
    }
    return ino;
  }
  uint64_t Ino(std::string_view path) { return Ino(*fs_, path); }

  ChunkRecord Rec(uint32_t chunk) const { return index_->Chunk(chunk); }
  Digest PackOf(uint32_t chunk) const { return index_->Pack(Rec(chunk).pack).digest; }
  bool HasAny(uint32_t chunk) { return *store_->HasAnyChunk(Rec(chunk).digest); }

  // The one range covering chunks first..last (consecutive in one pack), as a request.
  RangeRequest RangeOf(uint32_t first, uint32_t last) const {
    return {PackOf(first), Rec(first).pack_offset,
            Rec(last).pack_offset + Rec(last).stored_length - Rec(first).pack_offset};
  }
  static bool Same(const RangeRequest& a, const RangeRequest& b) {
    return a.blob == b.blob && a.offset == b.offset && a.length == b.length;
  }

  std::string ReadOk(daemon::ImageFs& fs, std::string_view path, uint64_t offset, size_t size) {
    std::string out = "stale";
    int err = fs.Read(Ino(fs, path), offset, size, &out);
    EXPECT_EQ(err, 0) << path << " @" << offset << "+" << size << ": " << std::strerror(err);
    return out;
  }
  std::string ReadOk(std::string_view path, uint64_t offset, size_t size) {
    return ReadOk(*fs_, path, offset, size);
  }

  ScratchDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::LocalStore> store_;
  FakeRemote remote_;
  ImageBuilder builder_;
  std::vector<uint32_t> tool_chunks_, conf_chunks_, big_chunks_;
  std::shared_ptr<const ImageIndex> index_;
  std::unique_ptr<daemon::ChunkFetcher> fetcher_;
  std::unique_ptr<daemon::ImageFs> fs_;
};

// --- Metadata ---

TEST_F(ImageFsTest, LookupFindsEntriesAndReportsErrors) {
  uint64_t ino = 0;
  ASSERT_EQ(fs_->Lookup(daemon::ImageFs::kRootIno, "etc", &ino), 0);
  EXPECT_EQ(ino, 3u + 1);
  ASSERT_EQ(fs_->Lookup(ino, "conf", &ino), 0);
  EXPECT_EQ(ino, 4u + 1);
  EXPECT_EQ(Ino("bin/tool"), 2u + 1);
  EXPECT_EQ(Ino("etc/hard"), Ino("bin/tool")) << "a hard link is the same inode";
  EXPECT_EQ(fs_->Lookup(daemon::ImageFs::kRootIno, "nope", &ino), ENOENT);
  EXPECT_EQ(fs_->Lookup(daemon::ImageFs::kRootIno, "et", &ino), ENOENT);
  EXPECT_EQ(fs_->Lookup(Ino("bin/tool"), "x", &ino), ENOTDIR);
  EXPECT_EQ(fs_->Lookup(999, "x", &ino), ENOENT);
  EXPECT_EQ(fs_->Lookup(0, "x", &ino), ENOENT);
  EXPECT_EQ(fs_->Lookup(daemon::ImageFs::kRootIno, std::string(256, 'a'), &ino), ENAMETOOLONG);
}

TEST_F(ImageFsTest, GetAttrReportsTheIndexAttributes) {
  struct stat st;
  ASSERT_EQ(fs_->GetAttr(Ino("bin/tool"), &st), 0);
  EXPECT_EQ(st.st_ino, Ino("bin/tool"));
  EXPECT_EQ(st.st_mode, S_IFREG | 0755u);
  EXPECT_EQ(st.st_size, 3 * kChunk);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 100u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1700000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 42);
  EXPECT_EQ(st.st_blocks, static_cast<blkcnt_t>(3 * kChunk / 512));

  ASSERT_EQ(fs_->GetAttr(Ino("etc/conf"), &st), 0);
  EXPECT_EQ(st.st_size, 8000);
  EXPECT_EQ(st.st_nlink, 1u);
  ASSERT_EQ(fs_->GetAttr(Ino("etc"), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFDIR | 0750u);
  ASSERT_EQ(fs_->GetAttr(daemon::ImageFs::kRootIno, &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  ASSERT_EQ(fs_->GetAttr(Ino("link"), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_size, 8);
  ASSERT_EQ(fs_->GetAttr(Ino("etc/empty"), &st), 0);
  EXPECT_EQ(st.st_size, 0);

  EXPECT_EQ(fs_->GetAttr(0, &st), ENOENT);
  EXPECT_EQ(fs_->GetAttr(index_->inode_count() + 1, &st), ENOENT);
}

TEST_F(ImageFsTest, ReadLinkReturnsTheTarget) {
  std::string_view target;
  ASSERT_EQ(fs_->ReadLink(Ino("link"), &target), 0);
  EXPECT_EQ(target, "etc/conf");
  EXPECT_EQ(fs_->ReadLink(Ino("etc/conf"), &target), EINVAL);
  EXPECT_EQ(fs_->ReadLink(Ino("etc"), &target), EINVAL);
  EXPECT_EQ(fs_->ReadLink(999, &target), ENOENT);
}

TEST_F(ImageFsTest, DirectoriesListSortedEntriesAndKnowTheirParents) {
  auto list = [&](uint64_t dir) {
    std::vector<std::pair<std::string, uint64_t>> out;
    uint32_t n = 0;
    EXPECT_EQ(fs_->DirSize(dir, &n), 0);
    for (uint32_t i = 0; i < n; ++i) {
      std::string_view name;
      uint64_t child = 0;
      fs_->DirEntry(dir, i, &name, &child);
      out.emplace_back(std::string(name), child);
    }
    return out;
  };
  using Entries = std::vector<std::pair<std::string, uint64_t>>;
  EXPECT_EQ(
      list(daemon::ImageFs::kRootIno),
      (Entries{
          {"big", Ino("big")}, {"bin", Ino("bin")}, {"etc", Ino("etc")}, {"link", Ino("link")}}));
  EXPECT_EQ(
      list(Ino("etc")),
      (Entries{{"conf", Ino("etc/conf")}, {"empty", Ino("etc/empty")}, {"hard", Ino("bin/tool")}}));
  EXPECT_EQ(list(Ino("bin")), (Entries{{"tool", Ino("bin/tool")}}));

  EXPECT_EQ(fs_->ParentOf(Ino("etc")), daemon::ImageFs::kRootIno);
  EXPECT_EQ(fs_->ParentOf(Ino("bin")), daemon::ImageFs::kRootIno);
  EXPECT_EQ(fs_->ParentOf(daemon::ImageFs::kRootIno), daemon::ImageFs::kRootIno);

  uint32_t n = 0;
  EXPECT_EQ(fs_->DirSize(Ino("etc/conf"), &n), ENOTDIR);
  EXPECT_EQ(fs_->DirSize(999, &n), ENOENT);
}

TEST_F(ImageFsTest, XattrsAreServedAndMissingOnesAreEnodata) {
  std::string value;
  ASSERT_EQ(fs_->GetXattr(Ino("etc/conf"), "security.selinux", &value), 0);
  EXPECT_EQ(value, "system_u:object_r:etc_t:s0");
  ASSERT_EQ(fs_->GetXattr(Ino("etc/conf"), "user.a", &value), 0);
  EXPECT_EQ(value, "1");
  ASSERT_EQ(fs_->GetXattr(Ino("etc"), "user.dir", &value), 0);
  EXPECT_EQ(value, "d");
  EXPECT_EQ(fs_->GetXattr(Ino("etc/conf"), "user.missing", &value), ENODATA);
  EXPECT_EQ(fs_->GetXattr(Ino("etc/conf"), "user", &value), ENODATA);
  EXPECT_EQ(fs_->GetXattr(Ino("bin/tool"), "user.a", &value), ENODATA);
  EXPECT_EQ(fs_->GetXattr(999, "user.a", &value), ENOENT);

  std::string names = "stale";
  ASSERT_EQ(fs_->ListXattr(Ino("etc/conf"), &names), 0);
  std::set<std::string> got;
  for (size_t i = 0; i < names.size();) {
    size_t nul = names.find('\0', i);
    ASSERT_NE(nul, std::string::npos) << "names must be NUL-terminated";
    got.insert(names.substr(i, nul - i));
    i = nul + 1;
  }
  EXPECT_EQ(got, (std::set<std::string>{"user.a", "security.selinux"}));
  EXPECT_EQ(names.size(),
            std::string("user.a").size() + 1 + std::string("security.selinux").size() + 1);
  ASSERT_EQ(fs_->ListXattr(Ino("bin/tool"), &names), 0);
  EXPECT_EQ(names, "");
  EXPECT_EQ(fs_->ListXattr(999, &names), ENOENT);
}

TEST_F(ImageFsTest, CheckOpenRefusesWritesAndDirectories) {
  const uint64_t conf = Ino("etc/conf");
  EXPECT_EQ(fs_->CheckOpen(conf, O_RDONLY), 0);
  EXPECT_EQ(fs_->CheckOpen(conf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), 0);
  EXPECT_EQ(fs_->CheckOpen(conf, O_WRONLY), EROFS);
  EXPECT_EQ(fs_->CheckOpen(conf, O_RDWR), EROFS);
  EXPECT_EQ(fs_->CheckOpen(conf, O_RDONLY | O_TRUNC), EROFS);
  EXPECT_EQ(fs_->CheckOpen(conf, O_WRONLY | O_APPEND), EROFS);
  EXPECT_EQ(fs_->CheckOpen(Ino("etc"), O_RDONLY), EISDIR);
  EXPECT_EQ(fs_->CheckOpen(999, O_RDONLY), ENOENT);
}

TEST_F(ImageFsTest, StatFsDescribesAReadOnlyFilesystem) {
  struct statvfs st;
  fs_->StatFs(&st);
  EXPECT_TRUE(st.f_flag & ST_RDONLY);
  EXPECT_EQ(st.f_files, index_->inode_count());
  EXPECT_EQ(st.f_namemax, 255u);
  EXPECT_EQ(st.f_bsize, 4096u);
  // Regular files once each (the hard link is not counted twice): 12288 + 8000 + 24576 bytes.
  EXPECT_EQ(st.f_blocks, (3 * kChunk + 8000 + 6 * kChunk + 4095) / 4096);
  EXPECT_EQ(st.f_bfree, 0u);
}

TEST_F(ImageFsTest, MetadataCallsNeverTouchTheRemote) {
  struct stat st;
  struct statvfs sv;
  std::string_view target;
  std::string value;
  uint32_t n = 0;
  for (uint64_t ino = 1; ino <= index_->inode_count(); ++ino) {
    (void)fs_->GetAttr(ino, &st);
    (void)fs_->ListXattr(ino, &value);
    (void)fs_->GetXattr(ino, "user.a", &value);
    (void)fs_->ReadLink(ino, &target);
    (void)fs_->CheckOpen(ino, O_RDONLY);
    if (fs_->DirSize(ino, &n) == 0) {
      for (uint32_t i = 0; i < n; ++i) {
        std::string_view name;
        uint64_t child = 0, found = 0;
        fs_->DirEntry(ino, i, &name, &child);
        EXPECT_EQ(fs_->Lookup(ino, name, &found), 0);
      }
      (void)fs_->ParentOf(ino);
    }
  }
  fs_->StatFs(&sv);
  std::string out;
  EXPECT_EQ(fs_->Read(Ino("etc/empty"), 0, 100, &out), 0);
  EXPECT_EQ(fs_->Read(Ino("big"), 6 * kChunk, 100, &out), 0);
  EXPECT_EQ(remote_.calls(), 0);
  EXPECT_EQ(fs_->metrics().cache_misses, 0u);
  EXPECT_EQ(fs_->metrics().cache_hits, 0u);
}

// --- Reads ---

TEST_F(ImageFsTest, ReadAcrossAChunkBoundaryFetchesOnlyThoseChunks) {
  const std::string tool = builder_.Contents(tool_chunks_);
  EXPECT_EQ(ReadOk("bin/tool", 4000, 200), tool.substr(4000, 200));
  auto ranges = remote_.ranges();
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_TRUE(Same(ranges[0], RangeOf(tool_chunks_[0], tool_chunks_[1])));
  EXPECT_FALSE(HasAny(tool_chunks_[2]));

  EXPECT_EQ(ReadOk("bin/tool", 2 * kChunk + 10, 100), tool.substr(2 * kChunk + 10, 100));
  ranges = remote_.ranges();
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_TRUE(Same(ranges[1], RangeOf(tool_chunks_[2], tool_chunks_[2])));

  // Chunks 1-4 of /big: from the last byte of chunk 1 to the first byte of chunk 4.
  const std::string big = builder_.Contents(big_chunks_);
  EXPECT_EQ(ReadOk("big", 2 * kChunk - 1, 2 * kChunk + 2),
            big.substr(2 * kChunk - 1, 2 * kChunk + 2));
  ranges = remote_.ranges();
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_TRUE(Same(ranges[2], RangeOf(big_chunks_[1], big_chunks_[4])));
  for (uint32_t c : {big_chunks_[0], big_chunks_[5]})
    EXPECT_FALSE(HasAny(c)) << "chunk " << c << " was fetched but not read";
  EXPECT_EQ(fs_->metrics().bytes_served, 200u + 100 + 2 * kChunk + 2);
  EXPECT_EQ(fs_->metrics().reads, 3u);
}

TEST_F(ImageFsTest, ReadsReturnTheFilesBytes) {
  EXPECT_EQ(ReadOk("etc/conf", 0, 1 << 20), builder_.Contents(conf_chunks_));
  EXPECT_EQ(ReadOk("bin/tool", 0, 3 * kChunk), builder_.Contents(tool_chunks_));
  EXPECT_EQ(ReadOk("etc/hard", 1, 3 * kChunk), builder_.Contents(tool_chunks_).substr(1));
  EXPECT_EQ(ReadOk("big", 0, 6 * kChunk), builder_.Contents(big_chunks_));
  // Again: all from memory now.
  remote_.ResetCounters();
  EXPECT_EQ(ReadOk("big", 5, 6 * kChunk), builder_.Contents(big_chunks_).substr(5));
  EXPECT_EQ(remote_.calls(), 0);
}

TEST_F(ImageFsTest, ReadAtOrPastEndOfFileReturnsNothing) {
  const std::string conf = builder_.Contents(conf_chunks_);
  EXPECT_EQ(ReadOk("etc/conf", 8000, 10), "");
  EXPECT_EQ(ReadOk("etc/conf", 9000, 10), "");
  EXPECT_EQ(ReadOk("etc/conf", 1ull << 40, 10), "");
  EXPECT_EQ(ReadOk("etc/conf", 100, 0), "");
  EXPECT_EQ(ReadOk("etc/empty", 0, 4096), "");
  EXPECT_EQ(remote_.calls(), 0);
  EXPECT_EQ(ReadOk("etc/conf", 7990, 100), conf.substr(7990)) << "short only at end of file";
  EXPECT_EQ(ReadOk("etc/conf", 0, 8000), conf);
}

TEST_F(ImageFsTest, ReadOfAnUnreachableChunkIsEio) {
  remote_.SetUnavailable(true);
  std::string out = "stale";
  EXPECT_EQ(fs_->Read(Ino("bin/tool"), 0, 100, &out), EIO);
  EXPECT_EQ(out, "");
  EXPECT_EQ(fs_->metrics().read_errors, 1u);
  remote_.SetUnavailable(false);
  clock_.Advance(daemon::FetcherOptions{}.unavailable_hold);  // the failure is held that long
  EXPECT_EQ(ReadOk("bin/tool", 0, 100), builder_.Contents(tool_chunks_).substr(0, 100));
}

// The documented bound: a read on a hanging remote fails with EIO after one remote call's
// bound (41 s), however many chunks it spans (Ensure and every Get share the request's
// budget); the kernel's immediate retry of the read fails at once.
TEST_F(ImageFsTest, AReadOnAHangingRemoteWaitsOneRemoteBoundAndItsRetryNone) {
  remote_.SetHang(&clock_, std::chrono::seconds(41));
  const Clock::time_point start = clock_.Now();
  std::string out = "stale";
  EXPECT_EQ(fs_->Read(Ino("big"), 0, 6 * kChunk, &out), EIO);
  EXPECT_EQ(out, "");
  EXPECT_EQ(remote_.range_calls(), 1);
  EXPECT_EQ(clock_.Now() - start, std::chrono::seconds(41));
  EXPECT_EQ(fs_->Read(Ino("big"), 0, 4096, &out), EIO);             // the kernel's retry
  EXPECT_EQ(fs_->Read(Ino("bin/tool"), 0, 3 * kChunk, &out), EIO);  // another file: its own try
  EXPECT_EQ(remote_.range_calls(), 2);
  EXPECT_EQ(clock_.Now() - start, std::chrono::seconds(82));
  remote_.SetHang(nullptr, {});
  clock_.Advance(daemon::FetcherOptions{}.unavailable_hold);
  EXPECT_EQ(ReadOk("big", 0, 6 * kChunk), builder_.Contents(big_chunks_));
}

// A chunk source answering with bytes of another length than the record's (what a hostile
// index sharing a digest with another image's chunk once got): ImageFs refuses to slice them.
class WrongLengthReader : public daemon::ChunkReader {
 public:
  explicit WrongLengthReader(int64_t delta) : delta_(delta) {}
  daemon::RequestBudget NewRequestBudget() override { return daemon::RequestBudget(); }
  Result<daemon::ChunkBytes> Get(const ImageIndex& index, uint32_t chunk, remote::RemoteStore*,
                                 daemon::Metrics&, daemon::RequestBudget&) override {
    return SharedBytes(std::string(index.Chunk(chunk).length + delta_, 'w'));
  }
  void Ensure(const ImageIndex&, const std::vector<uint32_t>&, remote::RemoteStore*,
              daemon::Metrics&, daemon::RequestBudget&) override {}
  void WarmLocal(std::shared_ptr<const ImageIndex>, std::vector<uint32_t>) override {}

 private:
  int64_t delta_;
};

TEST_F(ImageFsTest, AChunkOfTheWrongLengthIsEioNeverSliced) {
  for (int64_t delta : {-4000, -1, 1, 100000}) {
    WrongLengthReader reader(delta);
    daemon::ImageFs fs(index_, reader, nullptr, nullptr);
    for (uint64_t offset : {uint64_t{0}, uint64_t{kChunk - 1}, uint64_t{kChunk + 10}}) {
      std::string out = "stale";
      EXPECT_EQ(fs.Read(Ino(fs, "bin/tool"), offset, 2 * kChunk, &out), EIO)
          << "delta " << delta << " @" << offset;
      EXPECT_EQ(out, "");
    }
    EXPECT_EQ(fs.metrics().read_errors, 3u);
  }
  WrongLengthReader right(0);  // the same reader with right lengths serves the reads
  daemon::ImageFs fs(index_, right, nullptr, nullptr);
  std::string out;
  EXPECT_EQ(fs.Read(Ino(fs, "bin/tool"), 10, 2 * kChunk, &out), 0);
  EXPECT_EQ(out, std::string(2 * kChunk, 'w'));
}

// A hostile index naming a chunk this store holds for another image (pinned, converted) with
// another length: its read is EIO, the chunk stays, and the other image still reads it.
TEST_F(ImageFsTest, AHostileIndexLyingAboutAChunksLengthGetsEioAndHarmsNoOtherImage) {
  for (uint32_t c : {tool_chunks_[0], conf_chunks_[0]})
    ASSERT_TRUE(store_->PutChunk(Rec(c).digest, Rec(c).length, builder_.stored(c)).ok());
  const std::string tool = builder_.Contents(tool_chunks_);
  EXPECT_EQ(ReadOk("bin/tool", 0, tool.size()), tool);  // image A reads
  const std::string conf = builder_.Contents(conf_chunks_);
  EXPECT_EQ(ReadOk("etc/conf", 0, conf.size()), conf);  // conf[0] is compressed: in memory now
  remote_.ResetCounters();
  for (uint32_t c : {tool_chunks_[0], conf_chunks_[0]}) {  // from the store, from memory
    for (uint32_t lie : {Rec(c).length - 100, Rec(c).length + 100}) {
      auto hostile = LyingIndex(Rec(c).digest, lie, &remote_);
      ASSERT_NE(hostile, nullptr);
      daemon::ImageFs b(hostile, *fetcher_, &remote_, nullptr);
      std::string out = "stale";
      EXPECT_EQ(b.Read(Ino(b, "f"), 0, lie, &out), EIO) << "lie " << lie;
      EXPECT_EQ(out, "");
      EXPECT_EQ(b.Read(Ino(b, "f"), lie - 1, 1, &out), EIO) << "lie " << lie;
      EXPECT_TRUE(*store_->HasChunk(Rec(c).digest)) << "the pinned chunk was deleted";
    }
  }
  EXPECT_EQ(remote_.range_calls(), 0);
  EXPECT_EQ(ReadOk("etc/conf", 0, conf.size()), conf);
  daemon::ChunkFetcher fresh(*store_, daemon::FetcherOptions{},
                             clock_);  // A again, with nothing in memory
  daemon::ImageFs a(index_, fresh, nullptr, nullptr);
  EXPECT_EQ(ReadOk(a, "bin/tool", 0, kChunk), tool.substr(0, kChunk));
  EXPECT_EQ(ReadOk(a, "etc/conf", 0, 5000), conf.substr(0, 5000));
}

TEST_F(ImageFsTest, ReadOfCorruptRemoteBytesIsEio) {
  remote_.InjectWrongByte(PackOf(conf_chunks_[1]), Rec(conf_chunks_[1]).pack_offset, -1);
  std::string out;
  EXPECT_EQ(fs_->Read(Ino("etc/conf"), 0, 8000, &out), EIO);
  EXPECT_EQ(out, "") << "no unverified bytes are returned";
  EXPECT_EQ(ReadOk("etc/conf", 0, 5000), builder_.Contents(conf_chunks_).substr(0, 5000));
}

// A chunk neither local nor on the remote (no remote configured, or the remote lacks the pack)
// is a data problem of an open file: read(2) must fail with EIO, not ENOENT ("No such file or
// directory" for a file the caller has open).
TEST_F(ImageFsTest, ReadOfAChunkFoundNowhereIsEioNotEnoent) {
  daemon::ImageFs local(index_, *fetcher_, nullptr, nullptr);
  std::string out;
  EXPECT_EQ(local.Read(Ino(local, "big"), 0, 10, &out), EIO) << "no remote, chunk not local";

  FakeRemote empty;  // holds no packs: every range read is NotFound
  daemon::ImageFs fs(index_, *fetcher_, &empty, nullptr);
  EXPECT_EQ(fs.Read(Ino(fs, "bin/tool"), 0, 10, &out), EIO) << "pack missing on the remote";
}

TEST_F(ImageFsTest, ReadWithoutRemoteServesLocalChunksOnly) {
  for (uint32_t c : tool_chunks_)
    ASSERT_TRUE(store_->PutChunk(Rec(c).digest, Rec(c).length, builder_.stored(c)).ok());
  daemon::ImageFs local(index_, *fetcher_, nullptr, nullptr);
  EXPECT_EQ(ReadOk(local, "bin/tool", 10, 3 * kChunk), builder_.Contents(tool_chunks_).substr(10));
  std::string out;
  EXPECT_NE(local.Read(Ino(local, "big"), 0, 10, &out), 0);
  EXPECT_EQ(remote_.calls(), 0);
}

TEST_F(ImageFsTest, ConcurrentReadsFetchEachChunkOnce) {
  // The fetch waits until every read waits on it: each read either fetches (held in the
  // remote) or waits for the first chunk another read fetches.
  remote_.Hold();
  const std::string big = builder_.Contents(big_chunks_);
  std::vector<std::thread> threads;
  std::vector<std::string> results(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      if (fs_->Read(Ino("big"), 0, big.size(), &results[t]) != 0) results[t] = "error";
    });
  }
  remote_.WaitForHeld();
  while (fetcher_->ReadersOf(Rec(big_chunks_[0]).digest) + remote_.held() < 8)
    std::this_thread::yield();
  remote_.Release();
  for (auto& t : threads) t.join();
  for (int t = 0; t < 8; ++t) EXPECT_TRUE(results[t] == big) << "thread " << t;
  EXPECT_EQ(remote_.range_bytes(), 6 * kChunk) << "some chunk was fetched twice";
}

// --- Traces and prefetch ---

TEST_F(ImageFsTest, TraceRecordsFirstReadOrderWithoutDuplicates) {
  auto trace = std::make_shared<daemon::TraceRecorder>(std::chrono::seconds(60));
  daemon::ImageFs fs(index_, *fetcher_, &remote_, trace);
  ReadOk(fs, "big", 3 * kChunk, 10);        // big[3]
  ReadOk(fs, "bin/tool", kChunk - 1, 2);    // tool[0], tool[1]
  ReadOk(fs, "big", 3 * kChunk + 100, 10);  // big[3] again
  ReadOk(fs, "etc/hard", 0, 10);            // tool[0] again, through the hard link
  ReadOk(fs, "etc/empty", 0, 10);           // nothing
  ReadOk(fs, "etc/conf", 7000, 10);         // conf[1]
  std::vector<Digest> want = {Rec(big_chunks_[3]).digest, Rec(tool_chunks_[0]).digest,
                              Rec(tool_chunks_[1]).digest, Rec(conf_chunks_[1]).digest};
  EXPECT_EQ(trace->size(), want.size());
  std::string text;
  for (const Digest& d : want) text += d.ToString() + "\n";
  EXPECT_EQ(trace->Serialize(), text);
  EXPECT_EQ(daemon::ParseTrace(trace->Serialize()), want);
}

TEST_F(ImageFsTest, TraceStopsRecordingAfterItsWindow) {
  FakeClock clock;
  auto closed = std::make_shared<daemon::TraceRecorder>(std::chrono::seconds(0), clock);
  EXPECT_FALSE(closed->WindowOver()) << "a window is over only once time passes its end";
  clock.Advance(std::chrono::nanoseconds(1));
  EXPECT_TRUE(closed->WindowOver());
  daemon::ImageFs fs(index_, *fetcher_, &remote_, closed);
  ReadOk(fs, "bin/tool", 0, 10);
  EXPECT_EQ(closed->size(), 0u);
  EXPECT_EQ(closed->Serialize(), "");

  auto trace = std::make_shared<daemon::TraceRecorder>(std::chrono::seconds(1), clock);
  EXPECT_FALSE(trace->WindowOver());
  trace->Record(Rec(0).digest);
  clock.Advance(std::chrono::seconds(1));
  EXPECT_FALSE(trace->WindowOver()) << "the last instant of the window still records";
  clock.Advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(trace->WindowOver());
  trace->Record(Rec(1).digest);
  EXPECT_EQ(trace->size(), 1u);
  EXPECT_EQ(trace->Serialize(), Rec(0).digest.ToString() + "\n");
}

TEST_F(ImageFsTest, ParseTraceSkipsMalformedLines) {
  const Digest a = Rec(0).digest, b = Rec(1).digest, c = Rec(2).digest, d = Rec(3).digest;
  std::string text = a.ToString() + "\n" + "garbage\n" + "\n" + "sha512:" + b.Hex() + "\n" +
                     "sha256:" + b.Hex().substr(0, 63) + "\n" +  // too short
                     "sha256:" + b.Hex() + "00\n" +              // too long
                     "sha256:" + std::string(63, 'a') + "g\n" +  // not hex
                     b.ToString() + "\n" + c.Hex() + "\n" +      // bare hex is a digest
                     d.ToString();                               // no final newline
  EXPECT_EQ(daemon::ParseTrace(text), (std::vector<Digest>{a, b, c, d}));
  EXPECT_TRUE(daemon::ParseTrace("").empty());
  EXPECT_TRUE(daemon::ParseTrace("\n\n\n").empty());
}

TEST_F(ImageFsTest, ChunksOfMapsDigestsToChunkNumbersSkippingUnknownOnes) {
  std::vector<Digest> digests = {Rec(big_chunks_[2]).digest, Sha256("not in this image"),
                                 Rec(tool_chunks_[0]).digest};
  EXPECT_EQ(fs_->ChunksOf(digests), (std::vector<uint32_t>{big_chunks_[2], tool_chunks_[0]}));
  EXPECT_TRUE(fs_->ChunksOf({}).empty());
}

TEST_F(ImageFsTest, PrefetchFetchesCoalescedAndCountsProgress) {
  std::vector<Digest> digests;
  for (uint32_t c : big_chunks_) digests.push_back(Rec(c).digest);
  std::vector<uint32_t> chunks = fs_->ChunksOf(digests);
  ASSERT_EQ(chunks.size(), 6u);
  ASSERT_TRUE(fs_->Prefetch(chunks).ok());
  auto ranges = remote_.ranges();
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_TRUE(Same(ranges[0], RangeOf(big_chunks_[0], big_chunks_[5])));
  EXPECT_EQ(fs_->metrics().prefetch_done, 6u);
  for (uint32_t c : big_chunks_) EXPECT_TRUE(HasAny(c));
  // The reads that follow need nothing from the remote.
  EXPECT_EQ(ReadOk("big", 0, 6 * kChunk), builder_.Contents(big_chunks_));
  EXPECT_EQ(remote_.range_calls(), 1);
}

TEST_F(ImageFsTest, PrefetchReportsTheFirstErrorAndStillCountsEveryChunk) {
  remote_.SetUnavailable(true);
  Status s = fs_->Prefetch({tool_chunks_[0], tool_chunks_[1], big_chunks_[0]});
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_EQ(fs_->metrics().prefetch_done, 3u);
}

}  // namespace
}  // namespace imgfs
