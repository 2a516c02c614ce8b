#include "core/chunk_codec.h"

#include <zstd.h>

namespace imgfs {
namespace {

// One compression context per thread: creating one per chunk costs more than compressing.
struct ZstdContexts {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  ~ZstdContexts() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }
};
ZstdContexts& ThreadContexts() {
  thread_local ZstdContexts contexts;
  return contexts;
}

}  // namespace

std::string_view EncodeChunk(std::span<const uint8_t> raw, std::string* scratch, int level) {
  // zstd is fastest with room for its worst case (no bounds checks on the way).
  const size_t bound = ZSTD_compressBound(raw.size());
  if (scratch->size() < bound) scratch->resize(bound);
  ZSTD_CCtx* cctx = ThreadContexts().cctx;
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  if (level == kChunkZstdLevel) ZSTD_CCtx_setParameter(cctx, ZSTD_c_hashLog, kChunkZstdHashLog);
  size_t n = ZSTD_compress2(cctx, scratch->data(), scratch->size(), raw.data(), raw.size());
  if (ZSTD_isError(n) || n >= raw.size())
    return std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size());
  return std::string_view(scratch->data(), n);
}

std::string EncodeChunk(std::span<const uint8_t> raw, int level) {
  std::string scratch;
  return std::string(EncodeChunk(raw, &scratch, level));
}

Status DecompressChunk(std::string_view stored, uint32_t raw_length, std::string* out) {
  if (stored.size() > raw_length) return Status::Corruption("chunk: stored form longer than raw");
  if (stored.size() == raw_length) {
    out->assign(stored);
    return Status::Ok();
  }
  out->resize(raw_length);
  size_t n = ZSTD_decompressDCtx(ThreadContexts().dctx, out->data(), out->size(), stored.data(),
                                 stored.size());
  if (ZSTD_isError(n) || n != raw_length) return Status::Corruption("chunk: does not decompress");
  return Status::Ok();
}

Status DecodeChunk(std::string_view stored, uint32_t raw_length, const Digest& digest,
                   std::string* out) {
  RETURN_IF_ERROR(DecompressChunk(stored, raw_length, out).WithContext(digest.ToString()));
  if (Sha256(out->data(), out->size()) != digest)
    return Status::Corruption("chunk " + digest.ToString() + ": content does not match digest");
  return Status::Ok();
}

}  // namespace imgfs
