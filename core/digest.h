// Content addresses: SHA-256 digests and XXH3 checksums (xxHash).
// SHA-256 runs on OpenSSL's libcrypto, opened at first use, except for messages shorter than
// kShortSha256Message where the CPU has SHA-NI (core's code, core/sha256_batch.h). Where
// libcrypto cannot be loaded, everything runs on core's code: SHA-NI, or portable C++ without it
// (core/sha256_portable.h; slower, said once on standard error). The digests are the same.
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
// For tests: with FORCE, Sha256() and the Sha256Hashers made after the call act as if libcrypto
// could not be loaded; without, as they found it.
void Sha256ForceWithoutLibcryptoForTesting(bool force);

uint64_t Xxh3(const void* data, size_t len);

}  // namespace imgfs
