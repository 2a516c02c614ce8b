#include "core/zstd_frame.h"

#include <zstd.h>

#include <memory>

namespace imgfs {

std::string CompressFrame(std::string_view bytes, int level) {
  std::string out(ZSTD_compressBound(bytes.size()), '\0');
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_contentSizeFlag, 1);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 0);  // callers verify a digest
  // Within ZSTD_compressBound, compression cannot fail for lack of room.
  size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), bytes.data(), bytes.size());
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

Result<std::string> DecompressFrame(std::string_view frame, uint64_t max_size) {
  const size_t whole = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(whole))
    return Status::Corruption(std::string("not a whole zstd frame: ") + ZSTD_getErrorName(whole));
  if (whole != frame.size())
    return Status::Corruption("zstd frame followed by " + std::to_string(frame.size() - whole) +
                              " more bytes");
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
    return Status::Corruption("zstd frame without its content size");
  if (size > max_size)
    return Status::ResourceExhausted("zstd frame holds " + std::to_string(size) +
                                     " bytes, more than the " + std::to_string(max_size) +
                                     " allowed");
  std::string out(static_cast<size_t>(size), '\0');
  size_t n = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n))
    return Status::Corruption(std::string("zstd frame does not decode: ") + ZSTD_getErrorName(n));
  if (n != size)
    return Status::Corruption("zstd frame decodes to " + std::to_string(n) + " bytes, not the " +
                              std::to_string(size) + " it declares");
  return out;
}

}  // namespace imgfs
