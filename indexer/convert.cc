#include "indexer/convert.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace imgfs::indexer {

namespace {

std::string MetadataJson(const ImageBuildInfo& info, const ChunkerParams& chunker) {
  nlohmann::json m;
  // Where an image was read from is not part of it: the same image converted from an OCI layout
  // or from a registry gives the same index. A rootfs directory has no other name.
  if (info.manifest_digest.empty()) m["source"] = info.source;
  m["manifest_digest"] = info.manifest_digest;
  nlohmann::json config = nlohmann::json::parse(info.config_json, nullptr, false);
  m["config"] = config.is_discarded() ? nlohmann::json() : config;
  m["layers"] = {{"count", info.layer_count},
                 {"compressed_bytes", info.layers_compressed_bytes},
                 {"uncompressed_bytes", info.layers_uncompressed_bytes},
                 {"file_bytes", info.layers_file_bytes},
                 {"entries", info.entries}};
  m["chunker"] = {{"algorithm", "fastcdc-gear-v1"},
                  {"min", chunker.min_size},
                  {"avg", chunker.avg_size},
                  {"max", chunker.max_size}};
  return m.dump();
}

void CollectChunks(const Inode& dir, std::unordered_set<Digest, DigestHash>* out) {
  for (const auto& [name, child] : dir.children) {
    if (child->IsDir())
      CollectChunks(*child, out);
    else if (child->content)
      for (const ChunkSpan& s : child->content->chunks) out->insert(s.digest);
  }
}

// The store, with the stored lengths of the chunks this conversion wrote known beforehand:
// packs are cut by stored lengths, and the store need not be asked for each.
class KnownLengths : public ChunkSource {
 public:
  KnownLengths(ChunkSource& store, std::unordered_map<Digest, uint32_t, DigestHash> lengths)
      : store_(store), lengths_(std::move(lengths)) {}
  Result<std::string> GetStoredChunk(const Digest& digest) override {
    return store_.GetStoredChunk(digest);
  }
  Result<SharedBytes> GetStoredView(const Digest& digest) override {
    return store_.GetStoredView(digest);
  }
  Result<uint32_t> GetStoredLength(const Digest& digest) override {
    auto it = lengths_.find(digest);
    if (it != lengths_.end()) return it->second;
    return store_.GetStoredLength(digest);
  }

 private:
  ChunkSource& store_;
  const std::unordered_map<Digest, uint32_t, DigestHash> lengths_;
};

void RemoveUnreferenced(const FsTree& tree, const std::vector<Digest>& added, ChunkStore& store,
                        ChunkingStats* stats) {
  std::unordered_set<Digest, DigestHash> live;
  CollectChunks(*tree.root, &live);
  for (const Digest& d : added) {
    if (live.count(d)) continue;
    if (store.DeleteChunk(d).ok()) stats->new_chunks--;
  }
}

}  // namespace

Result<ConvertResult> ConvertImage(std::string_view source, const ConvertOptions& options,
                                   ChunkStore& store) {
  auto start = std::chrono::steady_clock::now();
  unsigned threads =
      options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  ConvertResult result;
  FsTree tree;
  ChunkingWriter writer(store, options.chunker, threads);
  auto built = BuildImageTree(source, options.build, writer, &tree);
  Status finished = writer.Finish();  // always drain the workers
  if (!built.ok() || !finished.ok()) {
    // Take back every chunk this conversion added: the store is left as it was.
    (void)store.DiscardChunks(writer.new_chunks());
    return built.ok() ? finished : built.status();
  }
  result.image = std::move(built).value();
  result.chunking = writer.stats();
  // Chunks of files that later layers replaced or deleted are not part of the image.
  RemoveUnreferenced(tree, writer.new_chunks(), store, &result.chunking);
  // The chunks are all stored: their durability can start while the index is assembled (on a
  // core the assembly leaves idle).
  store.StartSync();

  // (A length that does not match the store's bytes fails the pack hashing, which checks.)
  KnownLengths chunks(store, writer.new_stored_lengths());
  ASSIGN_OR_RETURN(std::string bytes,
                   AssembleIndex(tree, chunks, MetadataJson(result.image, options.chunker),
                                 options.packing, &result.tree));
  ASSIGN_OR_RETURN(result.index, ImageIndex::Parse(std::move(bytes)));
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace imgfs::indexer
