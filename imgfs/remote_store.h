// A remote store: where a fleet keeps image indexes, packs and access traces, each an immutable
// object named by its SHA-256 digest under a base location:
//   BASE/blobs/sha256/<hex>          indexes and packs (content-addressed)
//   BASE/indexes/sha256/<index hex>  the index again as one zstd frame, the form readers fetch
//                                    first (~2.7x fewer bytes; checked by the index's digest)
//   BASE/traces/sha256/<index hex>   the access trace recorded for an index (a hint: every chunk
//                                    it names is still verified when fetched)
// BASE is a file:// directory or an http(s):// URL (a server that accepts PUT, e.g. nginx with
// dav_methods PUT). OCI registries come in a later issue behind this same interface.
//
// Nothing read from a remote is trusted: callers verify digests of what they fetch (the index's
// SHA-256, each chunk's SHA-256). Implementations bound every operation by timeouts and retry
// transient failures (connection refused/reset, 408/429/5xx, timeouts) with exponential backoff,
// waiting at least what a Retry-After header of a 429/503 asks (up to max_backoff); after the
// bound (max_attempts, call_timeout) they return Unavailable (retryable). A 404 is NotFound.
// Every retry is reported to on_retry with its cause. Thread-safe: many threads may issue reads
// at once, and HTTP connections are reused across calls.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/digest.h"
#include "core/status.h"

namespace imgfs::remote {

// Why a remote call was tried again.
enum class RetryCause {
  kNetwork,      // refused, reset, cut short (the connection, not the server's answer)
  kTimeout,      // connect timeout, deadline or low-speed cut-off (a stall)
  kServerError,  // 408 or 5xx
  kThrottled,    // 429
  kBadAnswer,    // an answer that is not what was asked (short, wrong range, failed digest)
};
inline constexpr int kRetryCauseCount = 5;
// "network", "timeout", "server_error", "throttled", "bad_answer".
const char* RetryCauseName(RetryCause cause);

struct RemoteOptions {
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{10000};  // one attempt, whole transfer
  int max_attempts = 4;                              // first try included
  std::chrono::milliseconds initial_backoff{100};    // doubled each retry
  unsigned max_connections = 8;                      // parallel requests per host
  std::chrono::milliseconds max_backoff{5000};       // the doubling stops here
  // One attempt's deadline is request_timeout plus the bytes sent or expected at this rate, so
  // a 32 MiB pack on a slow but moving link is not cut off; 0 disables the allowance.
  uint64_t min_transfer_rate = 1u << 20;  // bytes per second
  // An attempt moving fewer bytes per second than this for a whole request_timeout (rounded up
  // to seconds) is abandoned as stalled, whatever its deadline.
  uint64_t low_speed_limit = 1024;  // bytes per second
  // https: a PEM file of the certificate authorities to trust instead of the system's.
  std::string ca_file;
  // Bound on one call, every attempt and wait included: no attempt starts, and none runs, past
  // it. 0: max_attempts and the per-attempt bounds alone limit a call.
  std::chrono::milliseconds call_timeout{0};
  // Called on the calling thread before each retry, with its cause. May be empty.
  std::function<void(RetryCause)> on_retry;
};

class RemoteStore {
 public:
  virtual ~RemoteStore() = default;
  virtual std::string Describe() const = 0;  // the base URL, for messages

  // Exactly `length` bytes of blob `digest` starting at `offset` (an HTTP Range request).
  // A short or long answer is Corruption.
  virtual Result<std::string> ReadBlobRange(const Digest& digest, uint64_t offset,
                                            uint64_t length) = 0;
  // The same range handed to `sink` in order, so that a caller can use the first bytes before
  // the last have come. On success the sink has seen exactly `length` bytes, each once (a
  // retried attempt resumes where the sink stopped). On failure the sink may have seen a part.
  // The sink's error ends the read and is returned. The sink must not call this store (it runs
  // while a connection is held). By default: ReadBlobRange, then one call.
  virtual Status StreamBlobRange(const Digest& digest, uint64_t offset, uint64_t length,
                                 const std::function<Status(std::string_view)>& sink) {
    ASSIGN_OR_RETURN(std::string bytes, ReadBlobRange(digest, offset, length));
    return sink(bytes);
  }
  // The whole blob, refused when larger than max_size. Not verified here.
  virtual Result<std::string> ReadBlob(const Digest& digest, uint64_t max_size) = 0;
  // Uploads a blob; a no-op when one with this digest exists already. REQUIRES: data's SHA-256
  // is digest.
  virtual Status WriteBlob(const Digest& digest, std::string_view data) = 0;
  virtual Result<bool> HasBlob(const Digest& digest) = 0;

  // The index `index_digest` as one zstd frame (core/zstd_frame.h), refused when the frame is
  // larger than max_size; NotFound when the remote keeps no such form (an older push). Not
  // verified here: FetchIndex decodes and checks it.
  virtual Result<std::string> ReadCompressedIndex(const Digest& index_digest,
                                                  uint64_t max_size) = 0;
  virtual Result<bool> HasCompressedIndex(const Digest& index_digest) = 0;
  // REQUIRES: `frame` decodes to the bytes of index `index_digest`.
  virtual Status WriteCompressedIndex(const Digest& index_digest, std::string_view frame) = 0;

  virtual Result<std::string> ReadTrace(const Digest& index_digest, uint64_t max_size) = 0;
  virtual Status WriteTrace(const Digest& index_digest, std::string_view data) = 0;
};

// Where FetchIndex reads an index from: its compressed form (NotFound when there is none) and
// its blob, each refused beyond max_size; `name` says where, in errors.
struct IndexForms {
  std::string name;
  std::function<Result<std::string>(uint64_t max_size)> compressed, blob;
};

// The bytes of index `digest`, their SHA-256 checked: the compressed form when there is one
// (decoded within max_size), else the blob. An answer that is not the index (bytes flipped or
// cut on the way) is fetched again, up to `attempts` fetches in all, each again counted in
// *refetches (may be null); a compressed form that fails once is not asked for again. Corruption
// when no attempt gives the index.
Result<std::string> FetchIndex(const IndexForms& forms, const Digest& digest, uint64_t max_size,
                               int attempts, std::atomic<uint64_t>* refetches);
// The same from a remote store's ReadCompressedIndex and ReadBlob.
Result<std::string> FetchIndex(RemoteStore& remote, const Digest& digest, uint64_t max_size,
                               int attempts, std::atomic<uint64_t>* refetches);

// "file:///abs/dir" or "http://host:port/base" / "https://...". A bare absolute path is taken as
// file://.
Result<std::unique_ptr<RemoteStore>> OpenRemoteStore(const std::string& url,
                                                     const RemoteOptions& options = {});

}  // namespace imgfs::remote
