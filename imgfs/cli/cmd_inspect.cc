// imgfs inspect IMAGE [--json]
#include <sys/stat.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/usage.h"

namespace imgfs::cli {

Result<int> RunInspect(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {"store"}, {"json"}));
  if (args.positional.size() != 1) return UsageError(kInspectUsage);
  ASSIGN_OR_RETURN(auto store, OpenStoreFromFlag(args.Get("store"), /*read_only=*/true));
  ASSIGN_OR_RETURN(Digest digest, store->Resolve(args.positional[0]));
  ASSIGN_OR_RETURN(auto index, store->GetIndex(digest));

  uint64_t files = 0, dirs = 0, symlinks = 0, others = 0, file_bytes = 0, chunk_refs = 0;
  for (uint32_t i = 0; i < index->inode_count(); ++i) {
    InodeAttrs a = index->Attrs(i);
    if (S_ISREG(a.mode))
      files++, file_bytes += a.size, chunk_refs += index->FileChunkCount(i);
    else if (S_ISDIR(a.mode))
      dirs++;
    else if (S_ISLNK(a.mode))
      symlinks++;
    else
      others++;
  }
  uint64_t unique_bytes = 0, stored_bytes = 0;
  for (uint32_t c = 0; c < index->chunk_count(); ++c) {
    ChunkRecord r = index->Chunk(c);
    unique_bytes += r.length;
    stored_bytes += r.stored_length;
  }
  // Chunks this image shares with the other images in the store.
  std::unordered_set<Digest, DigestHash> others_chunks;
  ASSIGN_OR_RETURN(std::vector<Digest> all, store->ListIndexes());
  for (const Digest& d : all) {
    if (d == digest) continue;
    ASSIGN_OR_RETURN(auto other, store->GetIndex(d));
    for (uint32_t c = 0; c < other->chunk_count(); ++c)
      others_chunks.insert(other->Chunk(c).digest);
  }
  uint64_t shared_chunks = 0, shared_stored = 0;
  for (uint32_t c = 0; c < index->chunk_count(); ++c) {
    ChunkRecord r = index->Chunk(c);
    if (others_chunks.count(r.digest)) shared_chunks++, shared_stored += r.stored_length;
  }
  nlohmann::json meta = nlohmann::json::parse(index->metadata(), nullptr, false);
  if (meta.is_discarded()) meta = nlohmann::json::object();
  uint64_t layer_file_bytes = meta.value("/layers/file_bytes"_json_pointer, uint64_t{0});
  auto ratio = [](uint64_t a, uint64_t b) { return b ? static_cast<double>(a) / b : 0.0; };

  nlohmann::json j = {
      {"digest", digest.ToString()},
      {"source", meta.value("source", meta.value("manifest_digest", ""))},
      {"files", files},
      {"directories", dirs},
      {"symlinks", symlinks},
      {"other_inodes", others},
      {"inodes", index->inode_count()},
      {"file_bytes", file_bytes},
      {"chunks", chunk_refs},
      {"unique_chunks", index->chunk_count()},
      {"unique_chunk_bytes", unique_bytes},
      {"stored_bytes", stored_bytes},
      {"packs", index->pack_count()},
      {"index_bytes", index->bytes().size()},
      {"layers", meta.value("layers", nlohmann::json::object())},
      {"dedup_ratio_vs_layers", ratio(layer_file_bytes, unique_bytes)},
      {"shared_with_store", {{"chunks", shared_chunks}, {"stored_bytes", shared_stored}}},
      {"new_stored_bytes_vs_store", stored_bytes - shared_stored},
  };
  if (args.Has("json")) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("image        %s\n", digest.ToString().c_str());
  std::printf("source       %s\n", j["source"].get<std::string>().c_str());
  std::printf("tree         %llu files, %llu directories, %llu symlinks, %llu other\n",
              (unsigned long long)files, (unsigned long long)dirs, (unsigned long long)symlinks,
              (unsigned long long)others);
  std::printf("file bytes   %s\n", HumanBytes(file_bytes).c_str());
  std::printf("chunks       %llu (%llu unique, %s)\n", (unsigned long long)chunk_refs,
              (unsigned long long)index->chunk_count(), HumanBytes(unique_bytes).c_str());
  std::printf("stored       %s in %u packs (index %s)\n", HumanBytes(stored_bytes).c_str(),
              index->pack_count(), HumanBytes(index->bytes().size()).c_str());
  std::printf("dedup        %.2fx against the layers' file bytes (%s)\n",
              ratio(layer_file_bytes, unique_bytes), HumanBytes(layer_file_bytes).c_str());
  std::printf("store        %llu of %u chunks (%s stored) shared with other images\n",
              (unsigned long long)shared_chunks, index->chunk_count(),
              HumanBytes(shared_stored).c_str());
  return 0;
}

}  // namespace imgfs::cli
