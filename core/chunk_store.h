// Where chunks live. A ChunkStore keeps chunks in their stored form (core/chunk_codec.h), keyed
// by the SHA-256 of their uncompressed bytes; a ChunkSource is anything a chunk can be fetched
// from (the local store, a remote pack store). A chunk's identity is its digest and its length:
// a record naming a stored digest with another length is wrong, never a reason to drop it.
// Thread-safety: implementations are safe for concurrent use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/digest.h"
#include "core/shared_bytes.h"
#include "core/status.h"

namespace imgfs {

class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // Returns the stored form of a chunk. NotFound if absent; Corruption if the local copy fails
  // its checksum (the caller may refetch). Thread-safe.
  virtual Result<std::string> GetStoredChunk(const Digest& digest) = 0;
  // The same bytes without a copy where the source has them in memory (a mapped local file),
  // valid while the returned value lives. By default, GetStoredChunk's. Thread-safe.
  virtual Result<SharedBytes> GetStoredView(const Digest& digest) {
    ASSIGN_OR_RETURN(std::string stored, GetStoredChunk(digest));
    return SharedBytes(std::move(stored));
  }
  // The length of a chunk's stored form; a source that knows it without reading the bytes
  // says so cheaply. By default, GetStoredChunk's size. Thread-safe.
  virtual Result<uint32_t> GetStoredLength(const Digest& digest) {
    ASSIGN_OR_RETURN(std::string stored, GetStoredChunk(digest));
    return static_cast<uint32_t>(stored.size());
  }
};

class ChunkStore : public ChunkSource {
 public:
  // Thread-safe.
  virtual Result<bool> HasChunk(const Digest& digest) = 0;
  // Adds a chunk in stored form. The caller has verified that `stored` decodes to bytes whose
  // SHA-256 is `digest` (the store checks it again only in debug builds). Idempotent.
  virtual Status PutChunk(const Digest& digest, uint32_t raw_length, std::string_view stored) = 0;
  // Removes a chunk (a conversion taking back what it stored but does not publish).
  virtual Status DeleteChunk(const Digest& digest) = 0;
  // A hint that no chunk writes follow for a while (a conversion has stored all its chunks): the
  // store may start making them durable in the background. It promises nothing; the store's own
  // sync is what makes chunks durable. By default, nothing.
  virtual void StartSync() {}
  // Takes back the chunks a failed conversion stored, which no index names; it must work on a
  // full disk too (the usual reason a conversion failed). By default, DeleteChunk on each.
  virtual Status DiscardChunks(const std::vector<Digest>& digests) {
    Status first;
    for (const Digest& d : digests)
      if (Status s = DeleteChunk(d); !s.ok() && first.ok()) first = s;
    return first;
  }
};

}  // namespace imgfs
