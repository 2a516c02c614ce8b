#include "indexer/index_assembler.h"

#include <deque>
#include <memory>
#include <unordered_map>

#include "core/async_hasher.h"

namespace imgfs::indexer {
namespace {

struct Numbering {
  std::unordered_map<const Inode*, uint32_t> ino;  // numbered in depth-first order
  std::vector<const Inode*> order;
  std::unordered_map<const Inode*, uint32_t> links;  // entries naming each non-directory
};

void Number(const Inode& dir, Numbering& n) {
  for (const auto& [name, child] : dir.children) {
    const Inode* c = child.get();
    if (!c->IsDir() && n.links[c]++ > 0) continue;  // a further link to a numbered inode
    n.ino.emplace(c, static_cast<uint32_t>(n.order.size()));
    n.order.push_back(c);
    if (c->IsDir()) Number(*c, n);
  }
}

}  // namespace

Status LayOutPacks(std::vector<ChunkRecord>& records, ChunkSource& chunks,
                   const PackingOptions& options, ImageIndexWriter& writer) {
  // Each pack is hashed on a thread of its own while this one reads the next pack's chunks; at
  // most kHashersAhead packs are hashing at once (each holds at most 8 MiB queued).
  constexpr size_t kHashersAhead = 4;
  std::deque<std::pair<std::unique_ptr<AsyncSha256>, uint64_t>> hashing;  // pack, its size
  std::unique_ptr<AsyncSha256> pack_hash;
  uint64_t pack_size = 0;
  uint32_t pack_no = 0;
  auto finish_oldest = [&] {
    writer.AddPack({hashing.front().first->Finish(), hashing.front().second});
    hashing.pop_front();
  };
  auto close_pack = [&] {
    hashing.emplace_back(std::move(pack_hash), pack_size);
    pack_size = 0;
    ++pack_no;
    if (hashing.size() >= kHashersAhead) finish_oldest();
  };
  for (ChunkRecord& r : records) {
    ASSIGN_OR_RETURN(std::string stored, chunks.GetStoredChunk(r.digest));
    if (stored.empty() || stored.size() > r.length)
      return Status::Corruption("chunk " + r.digest.ToString() + ": stored form has a bad length");
    if (pack_size > 0 && pack_size + stored.size() > options.target_pack_size) close_pack();
    if (!pack_hash) pack_hash = std::make_unique<AsyncSha256>();
    r.stored_length = static_cast<uint32_t>(stored.size());
    r.pack = pack_no;
    r.pack_offset = pack_size;
    pack_size += stored.size();
    pack_hash->Update(std::move(stored));
  }
  if (pack_size > 0) close_pack();
  while (!hashing.empty()) finish_oldest();
  for (const ChunkRecord& r : records) writer.AddChunk(r);
  return Status::Ok();
}

Result<std::string> AssembleIndex(const FsTree& tree, ChunkSource& chunks,
                                  const std::string& metadata_json, const PackingOptions& options,
                                  TreeCounts* counts) {
  Numbering n;
  n.ino.emplace(tree.root.get(), 0);
  n.order.push_back(tree.root.get());
  Number(*tree.root, n);
  if (n.order.size() > UINT32_MAX) return Status::ResourceExhausted("too many inodes");

  ImageIndexWriter writer;
  TreeCounts tc;

  // Unique chunks in first-use order, laid out into packs.
  std::unordered_map<Digest, uint32_t, DigestHash> chunk_index;
  std::vector<ChunkRecord> records;
  for (const Inode* node : n.order) {
    if (!node->IsRegular() || !node->content) continue;
    for (const ChunkSpan& span : node->content->chunks) {
      if (chunk_index.emplace(span.digest, static_cast<uint32_t>(records.size())).second)
        records.push_back({span.digest, span.length, 0, 0, 0});
    }
  }
  RETURN_IF_ERROR(LayOutPacks(records, chunks, options, writer));

  // Inodes, then their data.
  for (const Inode* node : n.order) {
    InodeAttrs a;
    a.mode = node->mode;
    a.uid = node->uid;
    a.gid = node->gid;
    a.mtime_sec = node->mtime_sec;
    a.mtime_nsec = node->mtime_nsec;
    a.rdev_major = node->rdev_major;
    a.rdev_minor = node->rdev_minor;
    if (node->IsDir()) {
      uint32_t subdirs = 0;
      for (const auto& [name, child] : node->children) subdirs += child->IsDir();
      a.nlink = 2 + subdirs;
      tc.dirs++;
    } else {
      a.nlink = n.links[node];
      tc.hardlinked_entries += a.nlink - 1;
      if (node->IsRegular()) {
        a.size = node->content ? node->content->size : 0;
        tc.files++;
        tc.file_bytes += a.size;
      } else if (node->IsSymlink()) {
        a.size = node->link_target.size();
        tc.symlinks++;
      } else {
        tc.others++;
      }
    }
    writer.AddInode(a);
  }
  for (const Inode* node : n.order) {
    uint32_t ino = n.ino.at(node);
    if (!node->xattrs.empty()) writer.SetXattrs(ino, {node->xattrs.begin(), node->xattrs.end()});
    if (node->IsDir()) {
      std::vector<std::pair<std::string, uint32_t>> entries;
      entries.reserve(node->children.size());
      for (const auto& [name, child] : node->children)
        entries.emplace_back(name, n.ino.at(child.get()));
      writer.SetDirEntries(ino, std::move(entries));
    } else if (node->IsSymlink()) {
      writer.SetSymlinkTarget(ino, node->link_target);
    } else if (node->IsRegular() && node->content) {
      std::vector<uint32_t> list;
      list.reserve(node->content->chunks.size());
      for (const ChunkSpan& span : node->content->chunks)
        list.push_back(chunk_index.at(span.digest));
      writer.SetFileChunks(ino, list);
    }
  }
  writer.SetMetadata(metadata_json);
  if (counts) *counts = tc;
  return writer.Finish();
}

}  // namespace imgfs::indexer
