// Fuzzes the image-index reader: any bytes must either be refused or parse into an index whose
// every accessor stays in bounds. Seeds: tests/golden/*.imgfsidx. Half of the inputs get their
// trailer checksum fixed up first, so the fuzzer gets past the checksum to the structural checks.
// Inputs that start with zstd's magic are also read as the compressed index of a remote store
// (core/zstd_frame.h), within a 64 MiB bound, and what they decode to is parsed.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/byte_io.h"
#include "core/digest.h"
#include "core/image_index.h"
#include "core/zstd_frame.h"

using imgfs::ImageIndex;

static void Exercise(std::string bytes) {
  auto parsed = ImageIndex::Parse(std::move(bytes));
  if (!parsed.ok()) return;
  const ImageIndex& ix = **parsed;
  for (uint32_t ino = 0; ino < ix.inode_count(); ++ino) {
    imgfs::InodeAttrs a = ix.Attrs(ino);
    (void)ix.Xattrs(ino);
    (void)ix.SymlinkTarget(ino);
    for (uint32_t e = 0; e < ix.DirEntryCount(ino); ++e) {
      auto entry = ix.DirEntry(ino, e);
      (void)ix.Lookup(ino, entry.name);
    }
    for (uint32_t c = 0; c < ix.FileChunkCount(ino); ++c)
      (void)ix.Chunk(ix.FileChunk(ino, c).chunk);
    if (a.size > 0 && ix.FileChunkCount(ino) > 0) (void)ix.FindFileChunk(ino, a.size - 1);
  }
  for (uint32_t p = 0; p < ix.pack_count(); ++p) (void)ix.Pack(p);
  (void)ix.metadata();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (size >= 4 && data[0] == 0x28 && data[1] == 0xb5 && data[2] == 0x2f && data[3] == 0xfd) {
    auto decoded = imgfs::DecompressFrame(bytes, 64u << 20);
    if (decoded.ok()) Exercise(std::move(*decoded));
    return 0;
  }
  if (size >= 32 && (data[0] & 1)) {
    uint64_t sum = imgfs::Xxh3(bytes.data(), bytes.size() - 8);
    imgfs::StoreU64(reinterpret_cast<uint8_t*>(bytes.data() + bytes.size() - 8), sum);
    // Keep the size field truthful too, or nearly every input dies on it.
    imgfs::StoreU64(reinterpret_cast<uint8_t*>(bytes.data() + 16), bytes.size());
    sum = imgfs::Xxh3(bytes.data(), bytes.size() - 8);
    imgfs::StoreU64(reinterpret_cast<uint8_t*>(bytes.data() + bytes.size() - 8), sum);
  }
  Exercise(std::move(bytes));
  return 0;
}
