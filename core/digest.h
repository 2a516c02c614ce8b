// Content addresses: SHA-256 digests (OpenSSL's libcrypto, opened at first use; messages shorter
// than kShortSha256Message with core's SHA-NI code where the CPU has it, core/sha256_batch.h)
// and XXH3 checksums (xxHash).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace imgfs {

// A SHA-256 digest. Printed as "sha256:<64 lowercase hex>", as OCI writes digests.
struct Digest {
  std::array<uint8_t, 32> bytes{};

  std::string Hex() const;
  std::string ToString() const { return "sha256:" + Hex(); }
  // Accepts "sha256:<hex>" or bare hex; rejects other algorithms and bad lengths.
  static Result<Digest> Parse(std::string_view text);
  static Digest FromBytes(const uint8_t* p) {
    Digest d;
    std::memcpy(d.bytes.data(), p, 32);
    return d;
  }
  bool IsZero() const;

  auto operator<=>(const Digest&) const = default;
};

struct DigestHash {
  size_t operator()(const Digest& d) const {
    size_t h;
    std::memcpy(&h, d.bytes.data(), sizeof h);
    return h;
  }
};

// Incremental SHA-256. Not thread-safe; one per stream.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(const void* data, size_t len);
  void Update(std::span<const uint8_t> s) { Update(s.data(), s.size()); }
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  Digest Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

inline constexpr size_t kShortSha256Message = 64 * 1024;
Digest Sha256(const void* data, size_t len);
inline Digest Sha256(std::string_view s) { return Sha256(s.data(), s.size()); }

uint64_t Xxh3(const void* data, size_t len);

}  // namespace imgfs
