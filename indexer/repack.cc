#include "indexer/repack.h"

#include <nlohmann/json.hpp>
#include <unordered_map>

namespace imgfs::indexer {

Result<std::string> RepackIndex(const ImageIndex& index, const std::vector<Digest>& first,
                                ChunkSource& chunks, const PackingOptions& options) {
  // New chunk order: the trace's chunks, then the rest as they were.
  std::unordered_map<Digest, uint32_t, DigestHash> old_of;
  for (uint32_t c = 0; c < index.chunk_count(); ++c) old_of.emplace(index.Chunk(c).digest, c);
  std::vector<uint32_t> new_of(index.chunk_count(), UINT32_MAX);
  std::vector<ChunkRecord> records;
  auto place = [&](uint32_t old) {
    if (new_of[old] != UINT32_MAX) return;
    new_of[old] = static_cast<uint32_t>(records.size());
    ChunkRecord r = index.Chunk(old);
    records.push_back({r.digest, r.length, 0, 0, 0});
  };
  size_t traced = 0;
  for (const Digest& d : first) {
    if (auto it = old_of.find(d); it != old_of.end() && new_of[it->second] == UINT32_MAX) {
      place(it->second);
      ++traced;
    }
  }
  for (uint32_t c = 0; c < index.chunk_count(); ++c) place(c);

  ImageIndexWriter writer;
  RETURN_IF_ERROR(LayOutPacks(records, chunks, options, writer));
  for (uint32_t ino = 0; ino < index.inode_count(); ++ino) writer.AddInode(index.Attrs(ino));
  for (uint32_t ino = 0; ino < index.inode_count(); ++ino) {
    auto xattrs = index.Xattrs(ino);
    if (!xattrs.empty()) {
      std::vector<std::pair<std::string, std::string>> copy;
      for (const auto& [k, v] : xattrs) copy.emplace_back(k, v);
      writer.SetXattrs(ino, copy);
    }
    InodeAttrs a = index.Attrs(ino);
    if (S_ISDIR(a.mode)) {
      std::vector<std::pair<std::string, uint32_t>> entries;
      for (uint32_t e = 0, n = index.DirEntryCount(ino); e < n; ++e) {
        DirEntryView v = index.DirEntry(ino, e);
        entries.emplace_back(std::string(v.name), v.ino);
      }
      writer.SetDirEntries(ino, std::move(entries));
    } else if (S_ISLNK(a.mode)) {
      writer.SetSymlinkTarget(ino, index.SymlinkTarget(ino));
    } else if (S_ISREG(a.mode)) {
      std::vector<uint32_t> list;
      for (uint32_t i = 0, n = index.FileChunkCount(ino); i < n; ++i)
        list.push_back(new_of[index.FileChunk(ino, i).chunk]);
      writer.SetFileChunks(ino, list);
    }
  }
  nlohmann::json meta = nlohmann::json::parse(index.metadata(), nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) meta = nlohmann::json::object();
  meta["layout"] = {
      {"order", "trace"}, {"traced_chunks", traced}, {"repacked_from", index.digest().ToString()}};
  writer.SetMetadata(meta.dump());
  return writer.Finish();
}

}  // namespace imgfs::indexer
