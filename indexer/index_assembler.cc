#include "indexer/index_assembler.h"

#include <atomic>
#include <span>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "core/sha256_batch.h"

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
  // Packs are cut by stored lengths alone; then their chunks are read and hashed on up to
  // kPackThreads threads, the assembling thread among them.
  struct Pack {
    size_t first = 0, end = 0;  // records [first, end)
    uint64_t size = 0;
    Digest digest;
    Status status;
  };
  std::vector<Pack> packs;
  uint64_t pack_size = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    ChunkRecord& r = records[i];
    ASSIGN_OR_RETURN(uint32_t stored, chunks.GetStoredLength(r.digest));
    if (stored == 0 || stored > r.length)
      return Status::Corruption("chunk " + r.digest.ToString() + ": stored form has a bad length");
    if (packs.empty() || (pack_size > 0 && pack_size + stored > options.target_pack_size)) {
      if (!packs.empty()) packs.back().size = pack_size;
      packs.push_back({i, i, 0, {}, Status::Ok()});
      pack_size = 0;
    }
    r.stored_length = stored;
    r.pack = static_cast<uint32_t>(packs.size() - 1);
    r.pack_offset = pack_size;
    packs.back().end = i + 1;
    pack_size += stored;
  }
  if (!packs.empty()) packs.back().size = pack_size;

  // Each thread hashes two packs at a time, in lockstep where both have bytes at hand
  // (Sha256Lane), and takes the next pack as soon as one is done.
  std::atomic<size_t> next{0};
  struct Cursor {
    Pack* pack = nullptr;
    size_t i = 0;                   // the next record to read
    SharedBytes view;               // the stored chunk being hashed
    std::span<const uint8_t> left;  // its bytes not hashed yet
    Sha256Lane lane;
  };
  auto take_pack = [&](Cursor& c) {
    const size_t i = next.fetch_add(1);
    c.pack = i < packs.size() ? &packs[i] : nullptr;
    if (c.pack) c.i = c.pack->first;
  };
  // Gives `c` bytes to hash, finishing its pack (and taking the next) on the way; false when no
  // pack is left for it.
  auto refill = [&](Cursor& c) {
    while (c.pack) {
      if (!c.left.empty()) return true;
      if (c.i == c.pack->end) {
        c.pack->digest = c.lane.Finish();
        take_pack(c);
        continue;
      }
      const ChunkRecord& r = records[c.i++];
      Result<SharedBytes> stored = chunks.GetStoredView(r.digest);
      if (stored.ok() && (*stored)->size() != r.stored_length)
        stored = Status::Corruption("chunk " + r.digest.ToString() +
                                    ": stored form changed length while packing");
      if (!stored.ok()) {
        c.pack->status = stored.status();
        (void)c.lane.Finish();
        take_pack(c);
        continue;
      }
      c.view = std::move(*stored);
      c.left = {reinterpret_cast<const uint8_t*>(c.view->data()), c.view->size()};
    }
    return false;
  };
  auto worker = [&] {
    Cursor c[2];
    take_pack(c[0]);
    take_pack(c[1]);
    while (true) {
      const bool x = refill(c[0]), y = refill(c[1]);
      if (x && y) {
        Sha256Lane::UpdateBoth(c[0].lane, &c[0].left, c[1].lane, &c[1].left);
      } else if (x || y) {
        Cursor& only = x ? c[0] : c[1];
        only.lane.Update(only.left);
        only.left = {};
      } else {
        break;
      }
    }
  };
  constexpr size_t kPackThreads = 4;
  std::vector<std::thread> helpers;
  try {
    for (size_t t = 1; t < std::min(kPackThreads, (packs.size() + 1) / 2); ++t)
      helpers.emplace_back(worker);
  } catch (const std::system_error&) {  // out of threads: fewer helpers (or none) do it all
  }
  worker();
  for (std::thread& t : helpers) t.join();

  for (const Pack& p : packs) {
    RETURN_IF_ERROR(p.status);
    writer.AddPack({p.digest, p.size});
  }
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
