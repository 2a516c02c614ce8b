#include "core/digest.h"

#include <openssl/evp.h>
#include <xxhash.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "core/sha256_batch.h"
#include "core/sha256_portable.h"
#include "core/shared_library.h"
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>
#endif

namespace imgfs {

std::string Digest::Hex() const {
  static const char kHex[] = "0123456789abcdef";
  std::string out(64, '0');
  for (size_t i = 0; i < 32; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return out;
}

static int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is not canonical in OCI digests
}

Result<Digest> Digest::Parse(std::string_view text) {
  std::string_view hex = text;
  if (auto colon = text.find(':'); colon != std::string_view::npos) {
    if (text.substr(0, colon) != "sha256")
      return Status::InvalidArgument("unsupported digest algorithm in '" + std::string(text) + "'");
    hex = text.substr(colon + 1);
  }
  if (hex.size() != 64)
    return Status::InvalidArgument("malformed digest '" + std::string(text) + "'");
  Digest d;
  for (size_t i = 0; i < 32; ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return Status::InvalidArgument("malformed digest '" + std::string(text) + "'");
    d.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return d;
}

bool Digest::IsZero() const {
  for (uint8_t b : bytes)
    if (b) return false;
  return true;
}

namespace {

// OpenSSL's libcrypto, opened at the first SHA-256 that needs it rather than linked: linked, it
// costs every imgfs process ~0.6 ms of loading and relocation at start (its 4,000 symbol
// relocations, 370 KB of relocated data), though a process hashing only short messages never
// calls it (docs/architecture.md). The types come from its header.
struct Crypto {
  decltype(&::EVP_MD_CTX_new) md_ctx_new = nullptr;
  decltype(&::EVP_MD_CTX_free) md_ctx_free = nullptr;
  decltype(&::EVP_sha256) sha256 = nullptr;
  decltype(&::EVP_DigestInit_ex) init = nullptr;
  decltype(&::EVP_DigestUpdate) update = nullptr;
  decltype(&::EVP_DigestFinal_ex) final = nullptr;
};

std::atomic<bool> without_libcrypto_for_testing{false};

// libcrypto's functions, or null where it cannot be loaded. SHA-256 then runs on core's own
// code: SHA-NI where the CPU has it (as fast), the portable code elsewhere (slower, which is said
// once on standard error).
const Crypto* Lib() {
  static Crypto crypto;
  static bool loaded = false;
  static std::once_flag once;
  std::call_once(once, [] {
    SharedLibrary lib("libcrypto.so.3", "libssl3");
    lib.Bind(crypto.md_ctx_new, "EVP_MD_CTX_new");
    lib.Bind(crypto.md_ctx_free, "EVP_MD_CTX_free");
    lib.Bind(crypto.sha256, "EVP_sha256");
    lib.Bind(crypto.init, "EVP_DigestInit_ex");
    lib.Bind(crypto.update, "EVP_DigestUpdate");
    lib.Bind(crypto.final, "EVP_DigestFinal_ex");
    loaded = lib.status().ok();
    if (!loaded && !Sha256BatchHasShaNi())
      std::fprintf(stderr, "imgfs: %s: SHA-256 runs on imgfs's own, slower code\n",
                   lib.status().message().c_str());
  });
  return loaded && !without_libcrypto_for_testing ? &crypto : nullptr;
}

}  // namespace

void Sha256ForceWithoutLibcryptoForTesting(bool force) { without_libcrypto_for_testing = force; }

// One of three: an OpenSSL context, core's SHA-NI stream, or the portable one.
struct Sha256Hasher::Impl {
  const Crypto* crypto = Lib();
  EVP_MD_CTX* ctx = nullptr;
  std::unique_ptr<Sha256Lane> lane;  // SHA-NI (a lane without it would come back here)
  sha256::PortableStream portable;

  Impl() {
    if (crypto) {
      ctx = crypto->md_ctx_new();
      crypto->init(ctx, crypto->sha256(), nullptr);
    } else if (Sha256BatchHasShaNi()) {
      lane = std::make_unique<Sha256Lane>();
    }
  }
  ~Impl() {
    if (ctx) crypto->md_ctx_free(ctx);
  }
};

Sha256Hasher::Sha256Hasher() : impl_(std::make_unique<Impl>()) {}
Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::Update(const void* data, size_t len) {
  Impl& i = *impl_;
  if (i.ctx) {
    i.crypto->update(i.ctx, data, len);
    return;
  }
  const std::span<const uint8_t> bytes(static_cast<const uint8_t*>(data), len);
  if (i.lane)
    i.lane->Update(bytes);
  else
    i.portable.Update(bytes);
}

Digest Sha256Hasher::Finish() {
  Impl& i = *impl_;
  if (i.lane) return i.lane->Finish();
  if (!i.ctx) return i.portable.Finish();
  Digest d;
  unsigned int len = 0;
  i.crypto->final(i.ctx, d.bytes.data(), &len);
  i.crypto->init(i.ctx, i.crypto->sha256(), nullptr);
  return d;
}

Digest Sha256(const void* data, size_t len) {
  // Short messages with core's SHA-NI code (core/sha256_batch.h): a process that hashes a few
  // bytes (`imgfs run`'s mount key) does not pay OpenSSL's initialization, ~0.8 ms. Long ones
  // through Sha256Hasher: OpenSSL where it loads, ~3% faster on this machine.
  if (len < kShortSha256Message && Sha256BatchHasShaNi()) {
    Sha256Lane lane;
    lane.Update({static_cast<const uint8_t*>(data), len});
    return lane.Finish();
  }
  Sha256Hasher hasher;
  hasher.Update(data, len);
  return hasher.Finish();
}

uint64_t Xxh3(const void* data, size_t len) {
#if defined(__x86_64__)
  // The library's run-time dispatch picks AVX2/AVX-512 where the CPU has them: ~1.8x the
  // baseline SSE2 code here (15.7 vs 8.8 GB/s), same result. It matters on the read path, where
  // every chunk served from the local store is checked.
  return XXH3_64bits_dispatch(data, len);
#else
  return XXH3_64bits(data, len);
#endif
}

}  // namespace imgfs
