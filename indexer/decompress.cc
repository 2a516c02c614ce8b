#include "indexer/decompress.h"

#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

namespace imgfs::indexer {
namespace {

// igzip's bit buffer is 64 bits: at most 8 bytes read past a member's end.
constexpr size_t kGzipReadAhead = 8;

}  // namespace

Result<size_t> FdRangeSource::Read(std::span<uint8_t> buf) {
  if (pos_ >= end_ || buf.empty()) return size_t{0};
  size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end_ - pos_));
  ssize_t n = RetryOnEintr([&] { return ::pread(fd_->get(), buf.data(), want, pos_); });
  if (n < 0) return Status::FromErrno(errno, "pread");
  if (n == 0) end_ = pos_;  // the file is shorter than announced
  pos_ += static_cast<uint64_t>(n);
  return static_cast<size_t>(n);
}

Result<size_t> MemorySource::Read(std::span<uint8_t> buf) {
  size_t n = std::min(buf.size(), data_.size());
  if (n > 0) std::memcpy(buf.data(), data_.data(), n);
  data_ = data_.subspan(n);
  return n;
}

oci::Compression SniffCompression(std::span<const uint8_t> head) {
  if (head.size() >= 2 && head[0] == 0x1f && head[1] == 0x8b) return oci::Compression::kGzip;
  if (head.size() >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f &&
      head[3] == 0xfd) {
    return oci::Compression::kZstd;
  }
  return oci::Compression::kNone;
}

// gzip is inflated by ISA-L's igzip (about twice zlib's speed on one core; the conversion's
// reading thread is its critical path). ISA-L checks each member's CRC-32 and length itself.
struct LayerStream::Codec {
  inflate_state z{};
  bool member_active = false;
  uint64_t members = 0;
  ZSTD_DStream* zstd = nullptr;
  size_t zstd_last = 1;  // last ZSTD_decompressStream hint; 0 when a frame is complete

  ~Codec() {
    if (zstd) ZSTD_freeDStream(zstd);
  }
};

LayerStream::LayerStream(std::unique_ptr<ByteSource> blob,
                         std::optional<oci::Compression> compression,
                         std::function<void(uint64_t)> on_read, size_t buffer_size)
    : blob_(std::move(blob)),
      compression_(compression),
      on_read_(std::move(on_read)),
      buffer_size_(std::max<size_t>(buffer_size, 64)) {}

LayerStream::~LayerStream() = default;

Status LayerStream::FillInput() {
  in_pos_ = in_len_ = 0;
  while (in_len_ == 0 && !in_eof_) {
    in_slot_ = (in_slot_ + 1) % kRing;
    HashedBuffer& b = in_ring_[in_slot_];
    hashes_.WaitHashed(kCompressed, b.ticket);
    in_ = b.bytes.data();
    ASSIGN_OR_RETURN(size_t n, blob_->Read({in_, buffer_size_}));
    if (n == 0) {
      in_eof_ = true;
      break;
    }
    in_len_ = n;
    b.ticket = hashes_.UpdateView(kCompressed, in_, n);
    stats_.compressed_bytes += n;
    if (on_read_) on_read_(n);
  }
  return Status::Ok();
}

Status LayerStream::Init() {
  initialized_ = true;
  // Room for the few bytes igzip reads past the end of a gzip member (DecompressGzip).
  for (HashedBuffer& b : in_ring_) b.bytes.resize(buffer_size_ + kGzipReadAhead);
  RETURN_IF_ERROR(FillInput());
  if (!compression_) compression_ = SniffCompression({in_, in_len_});
  codec_ = std::make_unique<Codec>();
  if (*compression_ == oci::Compression::kNone) return Status::Ok();
  for (HashedBuffer& b : out_ring_) b.bytes.resize(buffer_size_);
  if (*compression_ == oci::Compression::kGzip) {
    isal_inflate_init(&codec_->z);
  } else {
    codec_->zstd = ZSTD_createDStream();
    if (!codec_->zstd) return Status::Internal("ZSTD_createDStream failed");
  }
  return Status::Ok();
}

Result<size_t> LayerStream::DecompressGzip() {
  inflate_state& z = codec_->z;
  z.next_out = out_;
  z.avail_out = static_cast<uint32_t>(buffer_size_);
  while (true) {
    if (in_pos_ == in_len_ && !in_eof_) RETURN_IF_ERROR(FillInput());
    if (!codec_->member_active) {
      if (in_pos_ == in_len_) {  // the end of the blob, between members
        if (codec_->members == 0) return Status::Corruption("empty gzip stream");
        return buffer_size_ - z.avail_out;
      }
      if (in_[in_pos_] != 0x1f) return Status::Corruption("trailing garbage after gzip stream");
      isal_inflate_reset(&z);
      z.crc_flag = ISAL_GZIP;
      codec_->member_active = true;
      ++codec_->members;
    }
    z.next_in = in_ + in_pos_;
    z.avail_in = static_cast<uint32_t>(in_len_ - in_pos_);
    const uint32_t out_before = z.avail_out;
    int ret = isal_inflate(&z);
    in_pos_ = in_len_ - z.avail_in;
    if (ret < 0) {
      return Status::Corruption("corrupt gzip stream (igzip error " + std::to_string(ret) + ")");
    }
    if (z.block_state == ISAL_BLOCK_FINISH) {
      codec_->member_active = false;
      // Bytes igzip took past the member's end into its bit buffer (the start of the next
      // member, or trailing garbage) are its whole low bytes, in order: put them back in front
      // of the unread input. ISA-L 2.30 hands them back itself (read_in_length is 0 here); this
      // keeps multi-member layers right with a version that does not.
      const size_t extra = static_cast<size_t>(z.read_in_length) / 8;
      if (extra > kGzipReadAhead) return Status::Internal("igzip read ahead too far");
      // The buffer is being hashed: it is changed (rarely) only once that is done.
      bool in_place = extra <= in_pos_;
      for (size_t i = 0; in_place && i < extra; ++i)
        in_place = in_[in_pos_ - extra + i] == static_cast<uint8_t>(z.read_in >> (8 * i));
      if (!in_place) {
        hashes_.WaitHashed(kCompressed, in_ring_[in_slot_].ticket);
        if (extra > in_pos_) {
          std::memmove(in_ + extra, in_ + in_pos_, in_len_ - in_pos_);
          in_len_ = in_len_ - in_pos_ + extra;
          in_pos_ = extra;
        }
        for (size_t i = 0; i < extra; ++i)
          in_[in_pos_ - extra + i] = static_cast<uint8_t>(z.read_in >> (8 * i));
      }
      in_pos_ -= extra;
      z.read_in = 0;
      z.read_in_length = 0;
    } else if (in_pos_ == in_len_ && in_eof_ && z.avail_out == out_before) {
      return Status::Corruption("truncated gzip stream");
    }
    if (z.avail_out == 0) return buffer_size_;
    if (z.avail_out != buffer_size_ && in_pos_ == in_len_ && !in_eof_) {
      return buffer_size_ - z.avail_out;  // hand out what we have before blocking on more input
    }
  }
}

Result<size_t> LayerStream::DecompressZstd() {
  ZSTD_outBuffer out{out_, buffer_size_, 0};
  while (true) {
    if (in_pos_ == in_len_ && !in_eof_) RETURN_IF_ERROR(FillInput());
    bool at_end = in_pos_ == in_len_ && in_eof_;
    if (at_end && codec_->zstd_last == 0) return size_t{0};  // ended on a frame boundary
    ZSTD_inBuffer in{in_, in_len_, in_pos_};
    size_t r = ZSTD_decompressStream(codec_->zstd, &out, &in);
    if (ZSTD_isError(r)) {
      return Status::Corruption(std::string("corrupt zstd stream: ") + ZSTD_getErrorName(r));
    }
    in_pos_ = in.pos;
    codec_->zstd_last = r;
    if (out.pos > 0) return out.pos;
    if (at_end) return Status::Corruption("truncated zstd stream");
  }
}

void LayerStream::NextOutput() {
  out_slot_ = (out_slot_ + 1) % kRing;
  hashes_.WaitHashed(kUncompressed, out_ring_[out_slot_].ticket);
  out_ = out_ring_[out_slot_].bytes.data();
}

Result<std::span<const uint8_t>> LayerStream::Next() {
  if (done_) return std::span<const uint8_t>();
  if (!initialized_) RETURN_IF_ERROR(Init());
  std::span<const uint8_t> piece;
  switch (*compression_) {
    case oci::Compression::kNone:
      if (in_pos_ == in_len_) RETURN_IF_ERROR(FillInput());
      piece = {in_ + in_pos_, in_len_ - in_pos_};
      in_pos_ = in_len_;
      break;
    case oci::Compression::kGzip: {
      NextOutput();
      ASSIGN_OR_RETURN(size_t n, DecompressGzip());
      piece = {out_, n};
      break;
    }
    case oci::Compression::kZstd: {
      NextOutput();
      ASSIGN_OR_RETURN(size_t n, DecompressZstd());
      piece = {out_, n};
      break;
    }
  }
  if (piece.empty()) {
    done_ = true;
  } else {
    // An uncompressed blob is its own diff_id: its bytes are hashed once, as the blob's.
    if (*compression_ != oci::Compression::kNone)
      out_ring_[out_slot_].ticket = hashes_.UpdateView(kUncompressed, piece.data(), piece.size());
    stats_.uncompressed_bytes += piece.size();
  }
  return piece;
}

Result<LayerStreamStats> LayerStream::Finish() {
  while (!done_) {
    ASSIGN_OR_RETURN(auto piece, Next());
    (void)piece;
  }
  stats_.compressed_digest = hashes_.Finish(kCompressed);
  stats_.uncompressed_digest = *compression_ == oci::Compression::kNone
                                   ? stats_.compressed_digest
                                   : hashes_.Finish(kUncompressed);
  return stats_;
}

}  // namespace imgfs::indexer
