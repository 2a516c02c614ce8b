// Internal to export: reading verified chunks and walking an index's tree in path order.
// Thread-safety: stateless functions over a const index, safe from any thread.
#pragma once

#include <sys/stat.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "core/chunk_codec.h"
#include "core/chunk_store.h"
#include "core/image_index.h"

namespace imgfs::indexer {

inline Status ReadChunk(const ImageIndex& index, ChunkSource& chunks, uint32_t chunk,
                        std::string* out) {
  ChunkRecord r = index.Chunk(chunk);
  ASSIGN_OR_RETURN(std::string stored, chunks.GetStoredChunk(r.digest));
  return DecodeChunk(stored, r.length, r.digest, out);
}

// Walks the tree depth-first, calling visit(path, ino, first_path_of_ino_or_empty) for every
// entry; directories are visited before their children, and after(path, ino) is called for
// directories once their children are done.
template <typename Visit, typename After>
Status Walk(const ImageIndex& index, Visit visit, After after) {
  struct Frame {
    uint32_t ino;
    std::string path;
    uint32_t next = 0;
  };
  std::unordered_map<uint32_t, std::string> first_link;
  std::vector<Frame> stack;
  stack.push_back({0, ""});
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.next == index.DirEntryCount(f.ino)) {
      Frame done = std::move(f);
      stack.pop_back();
      RETURN_IF_ERROR(after(done.path, done.ino));
      continue;
    }
    DirEntryView e = index.DirEntry(f.ino, f.next++);
    std::string path = f.path.empty() ? std::string(e.name) : f.path + "/" + std::string(e.name);
    InodeAttrs a = index.Attrs(e.ino);
    std::string link_to;
    if (!S_ISDIR(a.mode) && a.nlink > 1) {
      auto [it, inserted] = first_link.emplace(e.ino, path);
      if (!inserted) link_to = it->second;
    }
    RETURN_IF_ERROR(visit(path, e.ino, link_to));
    if (S_ISDIR(a.mode)) stack.push_back({e.ino, path});
  }
  return Status::Ok();
}

}  // namespace imgfs::indexer
