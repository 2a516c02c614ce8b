// One zstd frame holding a whole blob, for objects sent over the network in compressed form
// (the image index on a remote store, docs/remote-store.md). Not for chunks: chunk_codec.h.
//
// Decoding treats its input as hostile: the frame must declare its content size, that size must
// be within the caller's bound before anything is allocated, and the frame must decode to
// exactly that many bytes with nothing after it. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace imgfs {

// The index on the wire: ~2.7x smaller than raw for a Debian image's index, ~0.1 s per 6 MB
// to compress (once, at push) and a few ms to decode (docs/remote-store.md).
inline constexpr int kIndexFrameZstdLevel = 9;

// `bytes` as one zstd frame that records its content size.
std::string CompressFrame(std::string_view bytes, int level);

// The content of `frame`. ResourceExhausted when it declares more than max_size bytes;
// Corruption when it is not exactly one whole frame with a declared size that decodes to
// that size.
Result<std::string> DecompressFrame(std::string_view frame, uint64_t max_size);

}  // namespace imgfs
