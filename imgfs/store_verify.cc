#include "imgfs/store_verify.h"

#include <unordered_set>

#include "core/chunk_codec.h"

namespace imgfs::store {

Result<VerifyReport> VerifyStore(LocalStore& store) {
  VerifyReport report;
  ASSIGN_OR_RETURN(std::vector<LocalStore::ChunkInfo> chunks, store.ListChunks());
  std::unordered_set<Digest, DigestHash> present;
  for (const LocalStore::ChunkInfo& c : chunks) {
    report.chunks++;
    report.stored_bytes += c.stored_length;
    const std::string name = "chunk " + c.digest.ToString();
    auto stored = store.ReadChunk(c.digest, c.raw_length);
    if (!stored.ok()) {
      report.problems.push_back(name + ": " + stored.status().message());
      continue;
    }
    if ((*stored)->size() != c.stored_length) {
      report.problems.push_back(name + ": " + std::to_string((*stored)->size()) +
                                " stored bytes, its record says " +
                                std::to_string(c.stored_length));
      continue;
    }
    std::string decoded;
    if (Status s = DecodeChunk(**stored, c.raw_length, c.digest, &decoded); !s.ok()) {
      report.problems.push_back(name + ": " + s.message());
      continue;
    }
    present.insert(c.digest);
  }
  ASSIGN_OR_RETURN(std::vector<Digest> indexes, store.ListIndexes());
  for (const Digest& d : indexes) {
    report.indexes++;
    if (auto index = store.GetIndex(d); !index.ok())
      report.problems.push_back("index " + d.ToString() + ": " + index.status().message());
  }
  ASSIGN_OR_RETURN(std::vector<ImageRef> refs, store.ListRefs());
  for (const ImageRef& r : refs) {
    report.refs++;
    auto index = store.GetIndex(r.index_digest);
    if (!index.ok()) {
      report.problems.push_back("ref " + r.name + " -> " + r.index_digest.ToString() + ": " +
                                index.status().message());
      continue;
    }
    ImageCompleteness img{r.name, r.index_digest, 0, 0};
    std::unordered_set<Digest, DigestHash> named;
    for (uint32_t i = 0; i < (*index)->chunk_count(); ++i) {
      const Digest& cd = (*index)->Chunk(i).digest;
      if (!named.insert(cd).second) continue;
      img.chunks++;
      if (present.count(cd)) img.local_chunks++;
    }
    report.images.push_back(std::move(img));
  }
  return report;
}

}  // namespace imgfs::store
