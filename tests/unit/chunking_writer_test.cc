#include "indexer/chunking_writer.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <random>

#include "core/chunk_codec.h"

namespace imgfs {
namespace {

class MemoryStore : public ChunkStore {
 public:
  Result<std::string> GetStoredChunk(const Digest& d) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = chunks_.find(d);
    if (it == chunks_.end()) return Status::NotFound("chunk");
    return it->second;
  }
  Result<bool> HasChunk(const Digest& d) override {
    std::lock_guard<std::mutex> lock(mu_);
    return chunks_.count(d) > 0;
  }
  Status PutChunk(const Digest& d, uint32_t, std::string_view stored) override {
    std::lock_guard<std::mutex> lock(mu_);
    puts_++;
    chunks_[d] = std::string(stored);
    return Status::Ok();
  }
  Status DeleteChunk(const Digest& d) override {
    std::lock_guard<std::mutex> lock(mu_);
    chunks_.erase(d);
    return Status::Ok();
  }
  std::mutex mu_;
  std::map<Digest, std::string> chunks_;
  int puts_ = 0;
};

class StringSource : public indexer::ByteSource {
 public:
  explicit StringSource(std::string s, size_t step = 100000) : s_(std::move(s)), step_(step) {}
  Result<size_t> Read(std::span<uint8_t> buf) override {
    size_t n = std::min({buf.size(), s_.size() - pos_, step_});
    std::memcpy(buf.data(), s_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  std::string s_;
  size_t step_, pos_ = 0;
};

std::string RandomString(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() % 7);  // compressible
  return s;
}

std::string Reassemble(MemoryStore& store, const indexer::FileContent& content) {
  std::string out, chunk;
  for (const indexer::ChunkSpan& span : content.chunks) {
    auto stored = store.GetStoredChunk(span.digest);
    EXPECT_TRUE(stored.ok());
    EXPECT_TRUE(DecodeChunk(*stored, span.length, span.digest, &chunk).ok());
    out += chunk;
  }
  return out;
}

TEST(ChunkingWriterTest, StoresFilesOnceAndReassemblesThem) {
  MemoryStore store;
  indexer::ChunkingWriter writer(store, ChunkerParams{}, 2);
  std::string big = RandomString(10 << 20, 1), small = "tiny file", empty;
  StringSource s1(big), s2(big), s3(small), s4(empty);
  auto c1 = writer.AddFile(s1, big.size());
  auto c2 = writer.AddFile(s2, big.size());  // the same content again
  auto c3 = writer.AddFile(s3, small.size());
  auto c4 = writer.AddFile(s4, 0);
  ASSERT_TRUE(c1.ok() && c2.ok() && c3.ok() && c4.ok());
  ASSERT_TRUE(writer.Finish().ok());
  EXPECT_EQ(Reassemble(store, **c1), big);
  EXPECT_EQ(Reassemble(store, **c2), big);
  EXPECT_EQ(Reassemble(store, **c3), small);
  EXPECT_TRUE((*c4)->chunks.empty());
  EXPECT_EQ((*c1)->chunks.size(), (*c2)->chunks.size());
  indexer::ChunkingStats st = writer.stats();
  EXPECT_EQ(st.chunks, 2 * (*c1)->chunks.size() + 1);
  EXPECT_EQ(st.new_chunks, store.chunks_.size());
  EXPECT_EQ(static_cast<uint64_t>(store.puts_), store.chunks_.size());  // each stored once
}

// Small files share buffers with each other and with the pieces of large files around them;
// every file must still come back byte for byte, however the sizes fall.
TEST(ChunkingWriterTest, MixedSizesReassemble) {
  MemoryStore store;
  indexer::ChunkingWriter writer(store, ChunkerParams{}, 2);
  std::mt19937 rng(7);
  const std::string pool = RandomString(10 << 20, 2);
  std::vector<std::string> files;
  std::vector<std::shared_ptr<indexer::FileContent>> contents;
  for (int i = 0; i < 150; ++i) {
    size_t size;
    switch (rng() % 4) {
      case 0:
        size = rng() % 100;
        break;
      case 1:
        size = rng() % (300 << 10);
        break;
      case 2:
        size = (4 << 20) - 1000 + rng() % 2000;
        break;  // about one buffer
      default:
        size = rng() % (9 << 20);
        break;
    }
    files.push_back(pool.substr(rng() % (pool.size() - size), size));
    StringSource src(files.back(), 1 + rng() % 300000);
    auto c = writer.AddFile(src, size);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    contents.push_back(*c);
  }
  ASSERT_TRUE(writer.Finish().ok());
  for (size_t i = 0; i < files.size(); ++i) {
    ASSERT_EQ(Reassemble(store, *contents[i]), files[i]) << "file " << i;
  }
}

TEST(ChunkingWriterTest, ShortStreamIsAnError) {
  MemoryStore store;
  indexer::ChunkingWriter writer(store, ChunkerParams{}, 1);
  StringSource src("only ten b");
  auto c = writer.AddFile(src, 100);
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace imgfs
