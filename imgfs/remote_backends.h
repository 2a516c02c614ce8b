// Internal to the remote store: the backends behind OpenRemoteStore and the object names they
// share. Not part of the public API; include imgfs/remote_store.h instead.
// Thread-safety: as RemoteStore's (safe for concurrent use once constructed).
#pragma once

#include <memory>
#include <string>

#include "core/digest.h"
#include "core/status.h"
#include "imgfs/remote_store.h"

namespace imgfs::remote::internal {

// Object names relative to BASE (no leading slash).
inline std::string BlobObjectName(const Digest& d) { return "blobs/sha256/" + d.Hex(); }
inline std::string CompressedIndexObjectName(const Digest& index_digest) {
  return "indexes/sha256/" + index_digest.Hex();
}
inline std::string TraceObjectName(const Digest& index_digest) {
  return "traces/sha256/" + index_digest.Hex();
}

// Reads larger than this in one call are refused (InvalidArgument): a pack is ~32 MiB, a range
// far less; anything bigger is a caller's bug, not something to allocate for.
inline constexpr uint64_t kMaxReadSize = 1ull << 30;

// REQUIRES: `dir` is an absolute path. The directory need not exist until the first write.
Result<std::unique_ptr<RemoteStore>> OpenFileRemoteStore(const std::string& dir);
// REQUIRES: `base_url` starts with http:// or https://.
Result<std::unique_ptr<RemoteStore>> OpenHttpRemoteStore(const std::string& base_url,
                                                         const RemoteOptions& options);

}  // namespace imgfs::remote::internal
