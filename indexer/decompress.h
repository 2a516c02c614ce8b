// Streaming layer-blob decoding: reads a blob once in large buffers, hashes the compressed bytes,
// decompresses (none, gzip incl. multi-member, zstd incl. multi-frame) and hashes the
// uncompressed bytes, so a layer's descriptor digest and its diff_id are both checked without
// temporary files. Not thread-safe; one LayerStream per layer.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/async_hasher.h"
#include "core/digest.h"
#include "core/fd.h"
#include "core/oci_image.h"
#include "core/status.h"
#include "indexer/content_writer.h"

namespace imgfs::indexer {

// Reads [offset, offset + length) of a shared file with pread; a docker-archive member or a
// whole OCI blob. Ends early (without error) if the file is shorter than that.
class FdRangeSource : public ByteSource {
 public:
  FdRangeSource(std::shared_ptr<const UniqueFd> fd, uint64_t offset, uint64_t length)
      : fd_(std::move(fd)), pos_(offset), end_(offset + length) {}
  Result<size_t> Read(std::span<uint8_t> buf) override;

 private:
  std::shared_ptr<const UniqueFd> fd_;
  uint64_t pos_;
  uint64_t end_;
};

// Serves bytes from memory; for tests and the fuzzer.
class MemorySource : public ByteSource {
 public:
  explicit MemorySource(std::span<const uint8_t> data) : data_(data) {}
  Result<size_t> Read(std::span<uint8_t> buf) override;

 private:
  std::span<const uint8_t> data_;
};

// Detects the compression of a blob from its first bytes (gzip 1f 8b, zstd 28 b5 2f fd).
oci::Compression SniffCompression(std::span<const uint8_t> head);

struct LayerStreamStats {
  uint64_t compressed_bytes = 0;
  uint64_t uncompressed_bytes = 0;
  Digest compressed_digest;
  Digest uncompressed_digest;
};

class LayerStream {
 public:
  // `compression` empty means sniff the magic bytes. `on_read` (may be empty) is told how many
  // compressed bytes each read consumed. `buffer_size` is the read and decompress granularity.
  LayerStream(std::unique_ptr<ByteSource> blob, std::optional<oci::Compression> compression,
              std::function<void(uint64_t)> on_read = {}, size_t buffer_size = 1 << 20);
  ~LayerStream();
  LayerStream(const LayerStream&) = delete;
  LayerStream& operator=(const LayerStream&) = delete;

  // Returns the next piece of the uncompressed stream, valid until the next call; empty at the
  // end. A truncated or corrupt compressed stream is a Corruption error.
  Result<std::span<const uint8_t>> Next();
  // Reads whatever is left (tar padding after the end-of-archive marker belongs to the diff_id)
  // and returns sizes and digests.
  Result<LayerStreamStats> Finish();

 private:
  // A buffer the hasher reads without a copy: it is written again only once the bytes it held
  // are hashed (`ticket`, AsyncSha256Pair::WaitHashed).
  struct HashedBuffer {
    std::vector<uint8_t> bytes;
    uint64_t ticket = 0;
  };
  // Enough buffers that the reading thread rarely waits for a hasher.
  static constexpr size_t kRing = 4;

  Status Init();
  Status FillInput();  // refills in_ when it is empty (the next input buffer); sets in_eof_
  void NextOutput();   // moves out_ to the next output buffer, once it is hashed
  Result<size_t> DecompressGzip();
  Result<size_t> DecompressZstd();

  std::unique_ptr<ByteSource> blob_;
  std::optional<oci::Compression> compression_;
  std::function<void(uint64_t)> on_read_;
  size_t buffer_size_;
  bool initialized_ = false;
  bool done_ = false;
  HashedBuffer in_ring_[kRing];  // compressed bytes, hashed as read
  size_t in_slot_ = 0;
  uint8_t* in_ = nullptr;  // in_ring_[in_slot_]
  size_t in_pos_ = 0;
  size_t in_len_ = 0;
  bool in_eof_ = false;
  HashedBuffer out_ring_[kRing];  // uncompressed pieces handed out by Next(), hashed too
  size_t out_slot_ = 0;
  uint8_t* out_ = nullptr;  // out_ring_[out_slot_]
  // Both digests are computed on a thread of their own, together, from the buffers themselves:
  // this stream's reader (inflate, tar parsing, chunk cutting) is the conversion's critical path.
  static constexpr int kCompressed = 0, kUncompressed = 1;
  AsyncSha256Pair hashes_;
  LayerStreamStats stats_;
  struct Codec;
  std::unique_ptr<Codec> codec_;
};

}  // namespace imgfs::indexer
