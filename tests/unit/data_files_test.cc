#include "imgfs/data_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "core/digest.h"
#include "tests/unit/daemon_test_util.h"

namespace imgfs {
namespace {

using testing::NoiseBytes;
using testing::ScratchDir;

class DataFilesTest : public ::testing::Test {
 protected:
  std::string dir() const { return dir_.path() + "/data"; }
  std::string FilePath(uint32_t id) const {
    char name[24];
    std::snprintf(name, sizeof name, "/%08u.dat", id);
    return dir() + name;
  }
  std::unique_ptr<store::DataFiles> Open(bool read_only = false) {
    auto f = store::DataFiles::Open(dir(), read_only);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(f).value() : nullptr;
  }
  // Allocated bytes of a data file; nullopt once it is gone.
  std::optional<uint64_t> Allocated(uint32_t id) const {
    struct stat st;
    if (::stat(FilePath(id).c_str(), &st) != 0) return std::nullopt;
    return uint64_t(st.st_blocks) * 512;
  }
  // Whether the extent maps to exactly `want` (Map checks the XXH3 of `want`).
  bool Reads(store::DataFiles& files, const store::DataFiles::Extent& e, const std::string& want) {
    auto got = files.Map(e, Xxh3(want.data(), want.size()));
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    return got.ok() && **got == want;
  }
  // Three extents of 40000 bytes written by one instance, which is then closed: file 1 is no
  // longer the one appended to.
  std::vector<store::DataFiles::Extent> WriteThree() {
    auto files = Open();
    std::vector<store::DataFiles::Extent> out;
    for (int i = 0; i < 3; ++i) {
      auto e = files->Append(NoiseBytes(40000, i));
      EXPECT_TRUE(e.ok()) << e.status().ToString();
      if (e.ok()) out.push_back(*e);
    }
    EXPECT_TRUE(files->Sync().ok());
    return out;
  }

  ScratchDir dir_;
};

TEST_F(DataFilesTest, AppendsAreAlignedAndReadBackAfterReopen) {
  auto written = WriteThree();
  ASSERT_EQ(written.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(written[i].file, 1u);
    EXPECT_EQ(written[i].offset % 4096, 0u) << "extent " << i;
    EXPECT_EQ(written[i].length, 40000u);
    if (i > 0) {
      EXPECT_GE(written[i].offset, written[i - 1].offset + 40000);
    }
  }
  auto reader = Open(/*read_only=*/true);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Reads(*reader, written[i], NoiseBytes(40000, i))) << i;
  // A new writer appends to a new file, never after what an earlier one left.
  auto writer = Open();
  auto e = writer->Append("more");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->file, 2u);
  EXPECT_TRUE(Reads(*writer, *e, "more"));
}

TEST_F(DataFilesTest, BadExtentsAreCorruption) {
  auto written = WriteThree();
  auto files = Open();
  store::DataFiles::Extent past = written[2];
  past.length += 8192;
  EXPECT_EQ(files->Map(past, 0).status().code(), Code::kCorruption);
  EXPECT_EQ(files->Map({7, 0, 10}, 0).status().code(), Code::kCorruption) << "missing file";
  const std::string want = NoiseBytes(40000, 0);
  EXPECT_EQ(files->Map(written[0], Xxh3(want.data(), want.size()) + 1).status().code(),
            Code::kCorruption)
      << "bytes that do not match their checksum";
}

TEST_F(DataFilesTest, AFileCutShortUnderAReaderIsAnErrorNotACrash) {
  auto written = WriteThree();
  auto files = Open();
  const std::string want = NoiseBytes(40000, 2);
  ASSERT_TRUE(Reads(*files, written[2], want));  // mapped, its size known
  ASSERT_EQ(::truncate(FilePath(1).c_str(), 4096), 0);
  auto got = files->Map(written[2], Xxh3(want.data(), want.size()));  // SIGBUS inside
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kCorruption);
  EXPECT_NE(got.status().message().find("faulted"), std::string::npos) << got.status().ToString();
}

TEST_F(DataFilesTest, ReleasedExtentsFreeTheirBlocksAndAnEmptyFileGoes) {
  auto written = WriteThree();
  auto files = Open();
  const uint64_t before = Allocated(1).value_or(0);
  files->Release(written[1]);
  ASSERT_TRUE(Allocated(1).has_value());
  EXPECT_LE(*Allocated(1), before - 36864) << "the middle extent's whole blocks were not freed";
  EXPECT_TRUE(Reads(*files, written[0], NoiseBytes(40000, 0))) << "a neighbour was damaged";
  EXPECT_TRUE(Reads(*files, written[2], NoiseBytes(40000, 2))) << "a neighbour was damaged";
  files->Release(written[0]);
  files->Release(written[2]);
  EXPECT_FALSE(Allocated(1).has_value()) << "a file with nothing left in it was kept";
}

TEST_F(DataFilesTest, TheFileBeingAppendedToIsKeptWhenEmpty) {
  auto files = Open();
  auto e = files->Append(NoiseBytes(5000, 1));
  ASSERT_TRUE(e.ok());
  files->Release(*e);
  EXPECT_TRUE(Allocated(e->file).has_value());
  auto next = files->Append("next");
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(Reads(*files, *next, "next"));
}

TEST_F(DataFilesTest, ReleaseWaitsForTheLastViewOfAnExtent) {
  auto written = WriteThree();
  auto files = Open();
  files->Release(written[0]);
  files->Release(written[2]);
  {
    const std::string want = NoiseBytes(40000, 1);
    auto view = files->Map(written[1], Xxh3(want.data(), want.size()));
    ASSERT_TRUE(view.ok());
    auto copy = *view;  // a second view of the same extent
    files->Release(written[1]);
    EXPECT_TRUE(Allocated(1).has_value()) << "released while being read";
    view = Status::Internal("dropped");
    EXPECT_TRUE(*copy == NoiseBytes(40000, 1)) << "the bytes changed under a reader";
    EXPECT_TRUE(Allocated(1).has_value()) << "released while one view is left";
  }
  EXPECT_FALSE(Allocated(1).has_value()) << "not released after the last view went";
}

TEST_F(DataFilesTest, ReclaimFreesWhatNothingReferences) {
  auto written = WriteThree();
  auto files = Open();
  ASSERT_TRUE(files->ReclaimUnreferenced({written[1]}).ok());
  ASSERT_TRUE(Allocated(1).has_value());
  EXPECT_LE(*Allocated(1), 45056u) << "more than the live extent's blocks are allocated";
  EXPECT_TRUE(Reads(*files, written[1], NoiseBytes(40000, 1)));
  ASSERT_TRUE(files->ReclaimUnreferenced({}).ok());
  EXPECT_FALSE(Allocated(1).has_value());
}

TEST_F(DataFilesTest, WillNeedAcceptsAnythingWithoutFailing) {
  auto written = WriteThree();
  auto files = Open();
  written.push_back({9, 0, 100});  // no such file: ignored
  files->WillNeed(written);
  EXPECT_TRUE(Reads(*files, written[0], NoiseBytes(40000, 0)));
}

}  // namespace
}  // namespace imgfs
