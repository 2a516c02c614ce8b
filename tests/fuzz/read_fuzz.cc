// Fuzzes the read path over fuzzed indexes: ImageFs (lookup, getattr, readlink, readdir,
// xattrs, open, read at many offsets, prefetch) over any index the parser accepts, with a fake
// chunk source whose answers the fuzzer also picks: errors, the right length, or bytes shorter
// or longer than the chunk's record says (what a broken cache or a hostile index sharing a
// digest could produce). Mounts nothing.
//
// Input: u16 n, then n bytes of "script" (the chunk source's answers), then the index. Inputs
// whose first script byte is odd (or with no script) get the index's size field and checksum
// fixed up, so most get past them to the structural checks. Seeds: tests/fuzz/corpus/read_fuzz/
// (the golden index behind a script).
//
// Checked beyond the sanitizers: a read that succeeds returns exactly the bytes the file has
// there (the fake's chunk bytes are a pure function of chunk and position), and never more
// than asked; a chunk of the wrong length is never sliced (the read fails instead).
#include <fcntl.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/byte_io.h"
#include "core/chunker.h"
#include "core/digest.h"
#include "core/image_index.h"
#include "imgfs/daemon/chunk_reader.h"
#include "imgfs/daemon/image_fs.h"

namespace imgfs::daemon {
namespace {

// Aborts, naming the check, when a property of the read path does not hold.
#define REQUIRE(cond)                                                            \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "read_fuzz: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                              \
    }                                                                            \
  } while (0)

// The byte at position `pos` of chunk `chunk`: what a correct answer contains. Answers are
// views into one pattern buffer (chunks may be 16 MiB long; nothing is copied).
constexpr uint64_t kPeriod = 251;
uint64_t StartOf(uint32_t chunk) { return uint64_t{chunk} * 31 % kPeriod; }
char ByteOf(uint32_t chunk, uint64_t pos) {
  return static_cast<char>((StartOf(chunk) + pos) % kPeriod);
}
const std::shared_ptr<const std::string>& Pattern() {
  static const auto* pattern = [] {
    auto p = std::make_shared<std::string>(kMaxChunkSize + 2 * kPeriod + 256, '\0');
    for (size_t i = 0; i < p->size(); ++i) (*p)[i] = static_cast<char>(i % kPeriod);
    return new std::shared_ptr<const std::string>(std::move(p));
  }();
  return *pattern;
}

// A chunk source whose answers come from the fuzzer's script, one byte per Get.
class ScriptedChunks : public daemon::ChunkReader {
 public:
  explicit ScriptedChunks(std::string_view script) : script_(script) {}

  daemon::RequestBudget NewRequestBudget() override { return daemon::RequestBudget(); }

  Result<daemon::ChunkBytes> Get(const ImageIndex& index, uint32_t chunk, remote::RemoteStore*,
                                 daemon::Metrics&, daemon::RequestBudget&) override {
    const ChunkRecord rec = index.Chunk(chunk);
    uint8_t op = Next();
    uint64_t length = rec.length;
    switch (op % 4) {
      case 0:
        return Status::Unavailable("scripted failure");
      case 1:
        break;  // the right length
      case 2:
        length -= std::min<uint64_t>(length, 1 + Next());
        break;
      case 3:
        length += 1 + Next();
        break;
    }
    const auto& pattern = Pattern();
    return SharedBytes(pattern, std::string_view(*pattern).substr(StartOf(chunk), length));
  }

  void Ensure(const ImageIndex&, const std::vector<uint32_t>& chunks, remote::RemoteStore*,
              daemon::Metrics&, daemon::RequestBudget&) override {
    for (uint32_t c : chunks) (void)c;
  }
  void WarmLocal(std::shared_ptr<const ImageIndex>, std::vector<uint32_t>) override {}

 private:
  uint8_t Next() {
    // A script that runs out keeps answering rightly, so long files still read.
    if (pos_ >= script_.size()) return 1;
    return static_cast<uint8_t>(script_[pos_++]);
  }
  std::string_view script_;
  size_t pos_ = 0;
};

// The bytes a correct read of `ino` (index numbering) at [offset, offset+n) returns.
std::string Expected(const ImageIndex& ix, uint32_t ino, uint64_t offset, uint64_t n) {
  std::string out;
  while (n > 0) {
    FileChunkRef ref = ix.FileChunk(ino, ix.FindFileChunk(ino, offset));
    uint64_t from = offset - ref.file_offset;
    uint64_t take = std::min<uint64_t>(ix.Chunk(ref.chunk).length - from, n);
    for (uint64_t i = 0; i < take; ++i) out.push_back(ByteOf(ref.chunk, from + i));
    offset += take;
    n -= take;
  }
  return out;
}

void CheckRead(daemon::ImageFs& fs, const ImageIndex& ix, uint32_t ino, uint64_t offset,
               size_t size) {
  std::string out;
  const uint64_t file_size = ix.Attrs(ino).size;
  int err = fs.Read(uint64_t{ino} + 1, offset, size, &out);
  if (err != 0) {
    REQUIRE(out.empty());
    return;
  }
  const uint64_t want = offset >= file_size ? 0 : std::min<uint64_t>(size, file_size - offset);
  REQUIRE(out.size() == want);
  REQUIRE(out == Expected(ix, ino, offset, want));
}

void Exercise(const ImageIndex& ix, std::string_view script) {
  ScriptedChunks chunks(script);
  auto trace = std::make_shared<daemon::TraceRecorder>(std::chrono::seconds(3600));
  daemon::ImageFs fs(std::shared_ptr<const ImageIndex>(&ix, [](const ImageIndex*) {}), chunks,
                     nullptr, trace);
  struct stat st;
  struct statvfs vfs;
  fs.StatFs(&vfs);
  REQUIRE(fs.GetAttr(0, &st) == ENOENT);
  REQUIRE(fs.GetAttr(uint64_t{ix.inode_count()} + 1, &st) == ENOENT);
  std::string out;
  REQUIRE(fs.Read(uint64_t{ix.inode_count()} + 1, 0, 1, &out) == ENOENT);
  for (uint32_t node = 0; node < ix.inode_count(); ++node) {
    const uint64_t ino = uint64_t{node} + 1;
    REQUIRE(fs.GetAttr(ino, &st) == 0);
    std::string_view target;
    (void)fs.ReadLink(ino, &target);
    std::string names, value;
    REQUIRE(fs.ListXattr(ino, &names) == 0);
    for (size_t at = 0; at < names.size();) {
      size_t end = names.find('\0', at);
      REQUIRE(end != std::string::npos);
      REQUIRE(fs.GetXattr(ino, std::string_view(names).substr(at, end - at), &value) == 0);
      at = end + 1;
    }
    (void)fs.CheckOpen(ino, O_RDONLY);
    uint32_t count = 0;
    if (fs.DirSize(ino, &count) == 0) {
      REQUIRE(fs.ParentOf(ino) >= 1 && fs.ParentOf(ino) <= ix.inode_count());
      for (uint32_t i = 0; i < count; ++i) {
        std::string_view name;
        uint64_t child = 0, found = 0;
        fs.DirEntry(ino, i, &name, &child);
        REQUIRE(fs.Lookup(ino, name, &found) == 0 && found == child);
      }
    }
    if (!S_ISREG(st.st_mode)) continue;
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    for (uint64_t offset : {uint64_t{0}, size / 3, size / 2, size ? size - 1 : 0, size, size + 9})
      for (size_t n : {size_t{1}, size_t{4096}, size_t{131072}}) CheckRead(fs, ix, node, offset, n);
  }
  std::vector<uint32_t> all;
  for (uint32_t c = 0; c < ix.chunk_count() && c < 64; ++c) all.push_back(c);
  (void)fs.Prefetch(all);
  std::vector<Digest> digests;
  for (uint32_t c = 0; c < ix.chunk_count(); ++c) digests.push_back(ix.Chunk(c).digest);
  REQUIRE(fs.ChunksOf(digests).size() == ix.chunk_count());
}

}  // namespace
}  // namespace imgfs::daemon

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t n = imgfs::LoadU16(data);
  if (n > size - 2) return 0;
  std::string_view script(reinterpret_cast<const char*>(data + 2), n);
  std::string bytes(reinterpret_cast<const char*>(data + 2 + n), size - 2 - n);
  if (bytes.size() >= 32 && (n == 0 || (script[0] & 1))) {
    imgfs::StoreU64(reinterpret_cast<uint8_t*>(bytes.data() + 16), bytes.size());
    uint64_t sum = imgfs::Xxh3(bytes.data(), bytes.size() - 8);
    imgfs::StoreU64(reinterpret_cast<uint8_t*>(bytes.data() + bytes.size() - 8), sum);
  }
  auto parsed = imgfs::ImageIndex::Parse(std::move(bytes));
  if (!parsed.ok()) return 0;
  imgfs::daemon::Exercise(**parsed, script);
  return 0;
}
