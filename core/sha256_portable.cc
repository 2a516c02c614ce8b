#include "core/sha256_portable.h"

#include <algorithm>
#include <cstring>

namespace imgfs::sha256 {
namespace {

constexpr uint32_t Rotr(uint32_t x, int n) { return x >> n | x << (32 - n); }

uint32_t LoadBigEndian(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

}  // namespace

void PortableStream::Reset() {
  std::memcpy(h_, kInitial, sizeof h_);
  used_ = 0;
  total_ = 0;
}

// FIPS 180-4, 6.2.2.
void PortableStream::Compress(const uint8_t* block) {
  uint32_t w[64];
  for (int t = 0; t < 16; ++t) w[t] = LoadBigEndian(block + 4 * t);
  for (int t = 16; t < 64; ++t) {
    const uint32_t s0 = Rotr(w[t - 15], 7) ^ Rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
    const uint32_t s1 = Rotr(w[t - 2], 17) ^ Rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
  for (int t = 0; t < 64; ++t) {
    const uint32_t t1 =
        h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[t] + w[t];
    const uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h_[0] += a;
  h_[1] += b;
  h_[2] += c;
  h_[3] += d;
  h_[4] += e;
  h_[5] += f;
  h_[6] += g;
  h_[7] += h;
}

void PortableStream::Update(std::span<const uint8_t> data) {
  total_ += data.size();
  if (data.empty()) return;
  if (used_ > 0) {
    const size_t take = std::min(sizeof block_ - used_, data.size());
    std::memcpy(block_ + used_, data.data(), take);
    used_ += take;
    data = data.subspan(take);
    if (used_ < sizeof block_) return;
    Compress(block_);
    used_ = 0;
  }
  for (; data.size() >= sizeof block_; data = data.subspan(sizeof block_)) Compress(data.data());
  if (!data.empty()) std::memcpy(block_, data.data(), data.size());
  used_ = data.size();
}

Digest PortableStream::Finish() {
  // 0x80, zeros, and the length in bits in the last 8 bytes of the last block (5.1.1).
  const uint64_t bits = total_ * 8;
  block_[used_++] = 0x80;
  if (used_ > sizeof block_ - 8) {
    std::memset(block_ + used_, 0, sizeof block_ - used_);
    Compress(block_);
    used_ = 0;
  }
  std::memset(block_ + used_, 0, sizeof block_ - 8 - used_);
  for (int i = 0; i < 8; ++i) block_[63 - i] = static_cast<uint8_t>(bits >> (8 * i));
  Compress(block_);
  Digest d;
  for (int i = 0; i < 8; ++i) {
    d.bytes[4 * i] = static_cast<uint8_t>(h_[i] >> 24);
    d.bytes[4 * i + 1] = static_cast<uint8_t>(h_[i] >> 16);
    d.bytes[4 * i + 2] = static_cast<uint8_t>(h_[i] >> 8);
    d.bytes[4 * i + 3] = static_cast<uint8_t>(h_[i]);
  }
  Reset();
  return d;
}

}  // namespace imgfs::sha256
