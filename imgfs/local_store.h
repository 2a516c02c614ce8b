// The local store: RocksDB on the node holding chunks, image indexes, refs (name -> index
// digest) and access traces. The embedded default: convert and run with no server at all.
//
// Chunk bytes live in append-only data files (imgfs/data_files.h, STORE/data/); RocksDB holds
// the rest. Column families: "chunk_meta" (digest -> raw/stored length, kind, extent in the data
// files, XXH3 of the stored bytes), "indexes" (index digest -> index bytes), "refs" (name ->
// index digest string), "traces", and "chunks" (XXH3 and bytes of chunks stored in fewer than
// 16 KiB, which stay out of the 4 KiB-aligned data files; in stores written before the data
// files, every chunk).
//
// Consistency: chunks are written first; an index and its ref are published in one synced batch
// only after every chunk it names is durable. A crash leaves at worst unreferenced chunks, which
// GarbageCollect removes. RocksDB allows one process per store: a second gets Unavailable.
// Privacy: a writable open makes the store its owner's alone (directories 0700, every file 0600,
// RocksDB's files too) and refuses a store directory another user owns. A full disk: writes fail
// while it lasts (reads go on), and the first write after space is back succeeds (RocksDB is
// resumed), with no reopen.
// Chunks are pinned (written by a conversion: the only copy, never evicted) or cached (fetched
// from a remote by the daemon: evictable, refetchable). All methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/chunk_store.h"
#include "core/image_index.h"
#include "core/shared_bytes.h"

namespace imgfs::store {

struct ImageRef {
  std::string name;
  Digest index_digest;
};

struct StoreStats {
  uint64_t chunks = 0;
  uint64_t raw_bytes = 0;     // uncompressed bytes of all chunks
  uint64_t stored_bytes = 0;  // their stored (compressed) bytes
  uint64_t indexes = 0;
};

struct GcResult {
  uint64_t indexes_removed = 0;
  uint64_t chunks_removed = 0;
  uint64_t bytes_removed = 0;  // stored bytes
};

// Default store path: $IMGFS_STORE, else /var/lib/imgfs.
std::string DefaultStorePath();

class LocalStore : public ChunkStore {
 public:
  // read_only: for commands that only read (ls, inspect, export, push); works while a daemon
  // holds the store open for writing, and sees what was durable when it opened.
  static Result<std::unique_ptr<LocalStore>> Open(const std::string& path, bool read_only = false);
  ~LocalStore() override;

  // The stored form of chunk (digest, raw_length) without a copy, checked against its XXH3:
  // Corruption if it does not match (the local copy is damaged). A chunk's identity is its
  // digest and its length: when the store holds `digest` with another raw length, the caller's
  // record is wrong (a hostile or broken index), not the store's, and the answer is
  // InvalidArgument; the chunk is left alone. Its bytes stay valid, and in the store, while the
  // returned value lives.
  Result<SharedBytes> ReadChunk(const Digest& digest, uint32_t raw_length);
  // Starts reading these chunks into the page cache, without waiting for them.
  void WillNeed(const std::vector<Digest>& digests);

  // ChunkStore
  Result<std::string> GetStoredChunk(const Digest& digest) override;
  // Checked against its XXH3, like ReadChunk.
  Result<SharedBytes> GetStoredView(const Digest& digest) override;
  // From the chunk's record alone.
  Result<uint32_t> GetStoredLength(const Digest& digest) override;
  // True only for a pinned chunk: a conversion re-stores cached chunks as pinned.
  Result<bool> HasChunk(const Digest& digest) override;
  // Stores a pinned chunk.
  Status PutChunk(const Digest& digest, uint32_t raw_length, std::string_view stored) override;

  // True for a pinned or cached chunk.
  Result<bool> HasAnyChunk(const Digest& digest);
  // Removes a chunk whatever its kind (a corrupt local copy, a conversion's leftovers).
  Status DeleteChunk(const Digest& digest) override;
  // A failed conversion's pinned chunks: their records are deleted as they were written
  // (without the WAL, so a full disk does not stop it), their bytes freed, then the deletions
  // flushed (there is room by then). Cached chunks among them are left alone. A crash before
  // that flush can bring back records of such chunks, flushed earlier, whose bytes are gone:
  // `imgfs verify` reports them and `imgfs gc` removes them (no index names them).
  Status DiscardChunks(const std::vector<Digest>& digests) override;

  // The daemon's cache of fetched chunks. A cached chunk never replaces a pinned one.
  Status PutCachedChunk(const Digest& digest, uint32_t raw_length, std::string_view stored);
  // Removes a cached chunk; pinned chunks are left alone. Returns the stored bytes freed.
  Result<uint64_t> EvictChunk(const Digest& digest);
  struct CachedChunk {
    Digest digest;
    uint32_t stored_length;
    uint64_t stored_order;  // larger: stored later (0 for chunks kept in RocksDB)
  };
  Result<std::vector<CachedChunk>> ListCachedChunks();
  // Every chunk record, pinned and cached (for `imgfs verify`).
  struct ChunkInfo {
    Digest digest;
    uint32_t raw_length;
    uint32_t stored_length;
    bool cached;
  };
  Result<std::vector<ChunkInfo>> ListChunks();

  // Access traces, keyed by index digest: what a workload read at start-up.
  // kSynced: written when the call returns. kRefetchable (what was fetched from a remote and
  // names no chunk of the store's own): not waiting for the disk; a crash may lose the write
  // (it is fetched again), never half of it.
  enum class Durability { kSynced, kRefetchable };
  Status PutTrace(const Digest& index_digest, std::string_view trace,
                  Durability durability = Durability::kSynced);
  Result<std::string> GetTrace(const Digest& index_digest);

  // Makes every chunk written so far durable. Call before publishing an index that names them.
  Status SyncChunks();
  // ChunkStore: starts flushing the chunk records in the background (SyncChunks then waits for
  // that flush rather than doing all of it).
  void StartSync() override;
  // Where a published index comes from. kConverted: made by a conversion into this store, which
  // checked every layer against its config's diff_ids, so the chain IDs its metadata names are
  // true of its files. kFetched: from a remote or registry; its metadata is the publisher's
  // claim (the snapshotter trusts it only for the pull it was fetched for).
  enum class Origin { kFetched, kConverted };
  // Stores an index and points `ref_name` at it, atomically and durably (see Durability). A
  // kConverted index is recorded as such (ConvertedHere); nothing ever unrecords it while the
  // index is kept: the digest pins the bytes it vouches for.
  Status PublishIndex(const ImageIndex& index, const std::string& ref_name,
                      Durability durability = Durability::kSynced,
                      Origin origin = Origin::kFetched);
  // Whether the index was published as kConverted. Stores written before this record existed
  // have none: their indexes count as fetched until converted again.
  Result<bool> ConvertedHere(const Digest& digest);
  Result<std::shared_ptr<const ImageIndex>> GetIndex(const Digest& digest);
  // NAME is a ref name, a full index digest ("sha256:..."), or a unique hex prefix of one.
  Result<Digest> Resolve(const std::string& name);
  Result<std::vector<ImageRef>> ListRefs();
  Result<std::vector<Digest>> ListIndexes();
  Status DeleteRef(const std::string& name);
  // `imgfs rm`: a ref name removes that name; a digest (or a unique prefix of one) removes every
  // name of that image. Returns the names removed; NotFound if none.
  Result<std::vector<std::string>> RemoveImage(const std::string& name);
  // Removes indexes no ref names and that are not in `keep` (images mounted right now), then
  // chunks no remaining index names, then data-file bytes no chunk record points at.
  Result<GcResult> GarbageCollect(const std::vector<Digest>& keep = {});
  Result<StoreStats> Stats();

 private:
  struct Impl;
  explicit LocalStore(std::unique_ptr<Impl> impl);
  Status Put(const Digest& digest, uint32_t raw_length, std::string_view stored, bool cached);
  std::unique_ptr<Impl> impl_;
};

}  // namespace imgfs::store
