// PushImage with a real LocalStore and a file:// remote: packs rebuilt from chunks, verified,
// uploaded before the index, skipped when present; refusals on damaged or missing chunks.
#include "imgfs/push.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/zstd_frame.h"
#include "tests/unit/remote_test_util.h"

namespace imgfs {
namespace {

using testing::ConvertTree;
using testing::ExpectImageReadableFrom;
using testing::MakeSourceTree;

// Passes chunks through, but damages or hides one of them.
class FaultyChunkSource : public ChunkSource {
 public:
  enum class Fault { kNone, kFlipByte, kMissing, kTruncate };
  FaultyChunkSource(ChunkSource& inner, Digest victim, Fault fault)
      : inner_(inner), victim_(victim), fault_(fault) {}
  Result<std::string> GetStoredChunk(const Digest& digest) override {
    auto r = inner_.GetStoredChunk(digest);
    if (!r.ok() || digest != victim_) return r;
    switch (fault_) {
      case Fault::kNone:
        break;
      case Fault::kFlipByte:
        (*r)[r->size() / 2] ^= 0x40;
        break;
      case Fault::kMissing:
        return Status::NotFound("chunk " + digest.ToString() + " not stored");
      case Fault::kTruncate:
        r->pop_back();
        break;
    }
    return r;
  }

 private:
  ChunkSource& inner_;
  Digest victim_;
  Fault fault_;
};

// Records the order of writes, and can fail the n-th blob write.
class RecordingRemote : public remote::RemoteStore {
 public:
  explicit RecordingRemote(remote::RemoteStore& inner) : inner_(inner) {}
  std::string Describe() const override { return "recording:" + inner_.Describe(); }
  Result<std::string> ReadBlobRange(const Digest& d, uint64_t off, uint64_t len) override {
    return inner_.ReadBlobRange(d, off, len);
  }
  Result<std::string> ReadBlob(const Digest& d, uint64_t max) override {
    return inner_.ReadBlob(d, max);
  }
  Status WriteBlob(const Digest& d, std::string_view data) override {
    std::lock_guard lock(mu_);
    if (++blob_writes_ == fail_write_)
      return Status::Unavailable("injected: connection reset while writing " + d.ToString());
    writes_.push_back("blob " + d.Hex());
    return inner_.WriteBlob(d, data);
  }
  Result<bool> HasBlob(const Digest& d) override { return inner_.HasBlob(d); }
  Result<std::string> ReadCompressedIndex(const Digest& d, uint64_t max) override {
    return inner_.ReadCompressedIndex(d, max);
  }
  Result<bool> HasCompressedIndex(const Digest& d) override { return inner_.HasCompressedIndex(d); }
  Status WriteCompressedIndex(const Digest& d, std::string_view frame) override {
    std::lock_guard lock(mu_);
    writes_.push_back("compressed index " + d.Hex());
    return inner_.WriteCompressedIndex(d, frame);
  }
  Result<std::string> ReadTrace(const Digest& d, uint64_t max) override {
    return inner_.ReadTrace(d, max);
  }
  Status WriteTrace(const Digest& d, std::string_view data) override {
    std::lock_guard lock(mu_);
    writes_.push_back("trace " + d.Hex());
    return inner_.WriteTrace(d, data);
  }

  std::vector<std::string> writes() {
    std::lock_guard lock(mu_);
    return writes_;
  }
  void FailBlobWrite(int n) { fail_write_ = n; }

 private:
  remote::RemoteStore& inner_;
  std::mutex mu_;
  std::vector<std::string> writes_;  // GUARDED_BY(mu_)
  int blob_writes_ = 0;              // GUARDED_BY(mu_)
  int fail_write_ = 0;
};

class PushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imgfs-push-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    MakeSourceTree(dir_ + "/src", 7);
    auto s = store::LocalStore::Open(dir_ + "/store");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    index_ = ConvertTree(dir_ + "/src", *store_);
    ASSERT_TRUE(index_);
    ASSERT_GE(index_->pack_count(), 3u) << "the test image should span several packs";
    auto r = remote::OpenRemoteStore("file://" + dir_ + "/remote");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    remote_ = std::move(r).value();
  }
  void TearDown() override {
    remote_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string PackPath(uint32_t p) const {
    return dir_ + "/remote/blobs/sha256/" + index_->Pack(p).digest.Hex();
  }
  bool RemoteHasIndex() { return *remote_->HasBlob(index_->digest()); }

  std::string dir_;
  std::unique_ptr<store::LocalStore> store_;
  std::shared_ptr<const ImageIndex> index_;
  std::unique_ptr<remote::RemoteStore> remote_;
};

TEST_F(PushTest, EveryChunkCanBeReadBackThroughRanges) {
  remote::PushStats stats;
  Status s = remote::PushImage(*index_, *store_, *remote_, nullptr, &stats);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(stats.packs_uploaded, index_->pack_count());
  EXPECT_EQ(stats.packs_skipped, 0u);
  uint64_t total = 0;
  for (uint32_t p = 0; p < index_->pack_count(); ++p) total += index_->Pack(p).size;
  EXPECT_EQ(stats.pack_bytes_uploaded, total);
  EXPECT_TRUE(stats.index_uploaded);
  EXPECT_EQ(stats.index_bytes, index_->bytes().size());
  EXPECT_TRUE(stats.compressed_index_uploaded);
  EXPECT_GT(stats.compressed_index_bytes, 0u);
  EXPECT_LT(stats.compressed_index_bytes, stats.index_bytes);
  EXPECT_FALSE(stats.trace_uploaded);
  ExpectImageReadableFrom(*index_, *remote_);
}

TEST_F(PushTest, PacksGoFirstThenTheIndexThenItsCompressedFormThenTheTrace) {
  RecordingRemote rec(*remote_);
  std::string trace = "trace bytes";
  ASSERT_TRUE(remote::PushImage(*index_, *store_, rec, &trace, nullptr).ok());
  std::vector<std::string> writes = rec.writes();
  ASSERT_EQ(writes.size(), index_->pack_count() + 3u);
  std::set<std::string> packs;
  for (uint32_t p = 0; p < index_->pack_count(); ++p)
    packs.insert("blob " + index_->Pack(p).digest.Hex());
  for (uint32_t i = 0; i < index_->pack_count(); ++i)
    EXPECT_TRUE(packs.count(writes[i])) << writes[i];
  EXPECT_EQ(writes[index_->pack_count()], "blob " + index_->digest().Hex());
  EXPECT_EQ(writes[index_->pack_count() + 1], "compressed index " + index_->digest().Hex());
  EXPECT_EQ(writes.back(), "trace " + index_->digest().Hex());
  EXPECT_EQ(*remote_->ReadTrace(index_->digest(), 100), trace);
}

TEST_F(PushTest, SecondPushUploadsNothing) {
  ASSERT_TRUE(remote::PushImage(*index_, *store_, *remote_, nullptr, nullptr).ok());
  remote::PushStats stats;
  ASSERT_TRUE(remote::PushImage(*index_, *store_, *remote_, nullptr, &stats).ok());
  EXPECT_EQ(stats.packs_uploaded, 0u);
  EXPECT_EQ(stats.packs_skipped, index_->pack_count());
  EXPECT_FALSE(stats.index_uploaded);
  EXPECT_FALSE(stats.compressed_index_uploaded);
}

// What a reader fetches: the compressed form while it is good, the blob when it is missing
// (pushed by an older imgfs) or damaged; never bytes other than the index's.
TEST_F(PushTest, TheIndexIsFetchedCompressedWithTheBlobAsFallback) {
  ASSERT_TRUE(remote::PushImage(*index_, *store_, *remote_, nullptr, nullptr).ok());
  const std::string want(reinterpret_cast<const char*>(index_->bytes().data()),
                         index_->bytes().size());
  const std::string blob = dir_ + "/remote/blobs/sha256/" + index_->digest().Hex();
  const std::string frame = dir_ + "/remote/indexes/sha256/" + index_->digest().Hex();
  ASSERT_TRUE(std::filesystem::exists(frame));
  auto read_file = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto write_file = [](const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  };
  std::atomic<uint64_t> refetches{0};
  auto fetch = [&] {
    return remote::FetchIndex(*remote_, index_->digest(), 1 << 30, 3, &refetches);
  };

  // The compressed form alone is enough.
  std::filesystem::rename(blob, blob + ".away");
  Result<std::string> got = fetch();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, want);
  EXPECT_EQ(refetches, 0u);
  std::filesystem::rename(blob + ".away", blob);

  // A damaged frame: the blob, after one refetch.
  std::string bytes = read_file(frame);
  bytes[bytes.size() / 2] ^= 0x5a;
  write_file(frame, bytes);
  got = fetch();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, want);
  EXPECT_EQ(refetches, 1u);

  // A frame of other bytes that decodes well: still refused by the digest.
  write_file(frame, CompressFrame("not the index", 3));
  got = fetch();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, want);
  EXPECT_EQ(refetches, 2u);

  // No frame (an older push): the blob, at once.
  std::filesystem::remove(frame);
  got = fetch();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(refetches, 2u);

  // Neither good: Corruption after the attempts, naming the index.
  write_file(frame, CompressFrame("not the index", 3));
  std::string damaged = want;
  damaged[100] ^= 1;
  write_file(blob, damaged);
  got = fetch();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kCorruption);
  EXPECT_NE(got.status().message().find(index_->digest().ToString()), std::string::npos)
      << got.status().ToString();
}

TEST_F(PushTest, OnlyMissingPacksAreUploaded) {
  ASSERT_TRUE(remote::PushImage(*index_, *store_, *remote_, nullptr, nullptr).ok());
  ASSERT_TRUE(std::filesystem::remove(PackPath(1)));
  remote::PushStats stats;
  ASSERT_TRUE(remote::PushImage(*index_, *store_, *remote_, nullptr, &stats).ok());
  EXPECT_EQ(stats.packs_uploaded, 1u);
  EXPECT_EQ(stats.packs_skipped, index_->pack_count() - 1);
  ExpectImageReadableFrom(*index_, *remote_);
}

TEST_F(PushTest, InterruptedPushLeavesNoIndexAndResumes) {
  RecordingRemote failing(*remote_);
  failing.FailBlobWrite(2);
  Status s = remote::PushImage(*index_, *store_, failing, nullptr, nullptr);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_TRUE(s.retryable());
  EXPECT_FALSE(RemoteHasIndex());
  remote::PushStats stats;
  ASSERT_TRUE(remote::PushImage(*index_, *store_, *remote_, nullptr, &stats).ok());
  EXPECT_EQ(stats.packs_skipped, 1u);
  EXPECT_EQ(stats.packs_uploaded, index_->pack_count() - 1);
  ExpectImageReadableFrom(*index_, *remote_);
}

TEST_F(PushTest, ParallelPushUploadsEveryPackOnceThenTheIndex) {
  RecordingRemote rec(*remote_);
  remote::PushOptions options;
  options.parallel_packs = 3;
  remote::PushStats stats;
  ASSERT_TRUE(remote::PushImage(*index_, *store_, rec, nullptr, &stats, options).ok());
  std::vector<std::string> writes = rec.writes();
  ASSERT_EQ(writes.size(), index_->pack_count() + 2u);
  std::set<std::string> packs(writes.begin(), writes.end() - 2);
  EXPECT_EQ(packs.size(), index_->pack_count());  // each once
  EXPECT_EQ(writes[index_->pack_count()], "blob " + index_->digest().Hex());
  EXPECT_EQ(writes.back(), "compressed index " + index_->digest().Hex());
  EXPECT_EQ(stats.packs_uploaded, index_->pack_count());
  ExpectImageReadableFrom(*index_, *remote_);
}

TEST_F(PushTest, ParallelPushStopsAtAFailureWithoutTheIndex) {
  RecordingRemote failing(*remote_);
  failing.FailBlobWrite(2);
  remote::PushOptions options;
  options.parallel_packs = 3;
  Status s = remote::PushImage(*index_, *store_, failing, nullptr, nullptr, options);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_FALSE(RemoteHasIndex());
}

struct FaultCase {
  FaultyChunkSource::Fault fault;
  Code code;
};

class PushRefusesTest : public PushTest, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(PushRefusesTest, DamagedOrMissingLocalChunk) {
  // A chunk in the middle of the last pack: earlier packs go up, its pack and the index do not.
  uint32_t last = index_->pack_count() - 1;
  ChunkRecord victim;
  bool found = false;
  for (uint32_t i = 0; i < index_->chunk_count() && !found; ++i)
    if (index_->Chunk(i).pack == last) victim = index_->Chunk(i), found = true;
  ASSERT_TRUE(found);
  FaultyChunkSource faulty(*store_, victim.digest, GetParam().fault);
  remote::PushStats stats;
  Status s = remote::PushImage(*index_, faulty, *remote_, nullptr, &stats);
  ASSERT_EQ(s.code(), GetParam().code) << s.ToString();
  EXPECT_NE(s.message().find(victim.digest.ToString()), std::string::npos) << s.message();
  EXPECT_FALSE(s.retryable());
  EXPECT_EQ(stats.packs_uploaded, last);
  EXPECT_FALSE(std::filesystem::exists(PackPath(last)));
  EXPECT_FALSE(RemoteHasIndex());
}

INSTANTIATE_TEST_SUITE_P(
    Faults, PushRefusesTest,
    ::testing::Values(FaultCase{FaultyChunkSource::Fault::kFlipByte, Code::kCorruption},
                      FaultCase{FaultyChunkSource::Fault::kTruncate, Code::kCorruption},
                      FaultCase{FaultyChunkSource::Fault::kMissing, Code::kNotFound}));

TEST_F(PushTest, RefusesAnIndexWhosePackDigestDoesNotMatchItsChunks) {
  // An index claiming a pack digest that its chunks do not produce: nothing may be uploaded
  // under that address.
  ImageIndexWriter w;
  std::string data = testing::RandomBytes(1000, 3);
  std::string stored = EncodeChunk({reinterpret_cast<const uint8_t*>(data.data()), data.size()});
  Digest cd = Sha256(data);
  ASSERT_TRUE(store_->PutChunk(cd, data.size(), stored).ok());
  Digest wrong = Sha256("not the pack");
  w.AddPack({wrong, stored.size()});
  uint32_t c = w.AddChunk({cd, uint32_t(data.size()), uint32_t(stored.size()), 0, 0});
  uint32_t root = w.AddInode({S_IFDIR | 0755});
  uint32_t f = w.AddInode({S_IFREG | 0644, 0, 0, 1, data.size()});
  w.SetDirEntries(root, {{"f", f}});
  std::vector<uint32_t> chunks{c};
  w.SetFileChunks(f, chunks);
  auto bytes = w.Finish();
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto index = ImageIndex::Parse(*bytes);
  ASSERT_TRUE(index.ok());
  Status s = remote::PushImage(**index, *store_, *remote_, nullptr, nullptr);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_FALSE(*remote_->HasBlob(wrong));
  EXPECT_FALSE(*remote_->HasBlob((*index)->digest()));
}

}  // namespace
}  // namespace imgfs
