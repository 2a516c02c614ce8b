// Applies layer entries to an FsTree the way containerd and umoci unpack layers:
//  - names are cleaned ("./a", "/a", "a/" are "a"); a name that leaves the root is an error;
//  - parent components are resolved inside the tree, following symlinks (absolute targets from
//    the image root, ".." clamped at the root, at most 40 links), missing parents are created
//    0755 root:root with mtime 0;
//  - ".wh.NAME" removes NAME of lower layers and ".wh..wh..opq" hides the lower-layer contents
//    of its directory; both are applied at EndLayer() so that their order within a layer does
//    not matter and this layer's own entries always stay;
//  - a directory re-declared keeps its children and takes the new attributes; any other
//    replacement drops the old entry (a directory with its subtree);
//  - a hardlink shares the target's Inode; a missing target, a target outside the root or a
//    directory target is an error.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/status.h"
#include "indexer/content_writer.h"
#include "indexer/fs_tree.h"
#include "indexer/layer_reader.h"

namespace imgfs::indexer {

struct ApplyLimits {
  uint64_t max_entries = 10'000'000;  // all layers together
  uint64_t max_file_size = 1ull << 40;
};

struct ApplyStats {
  uint64_t entries = 0;     // entries applied, whiteouts included
  uint64_t file_bytes = 0;  // regular-file bytes sent to the writer
};

// Splits a tar name into clean components; InvalidArgument if ".." climbs above the root.
Result<std::vector<std::string>> CleanEntryPath(std::string_view path);

class LayerApplier {
 public:
  // `tree` and `writer` must outlive the applier.
  LayerApplier(FsTree* tree, ContentWriter* writer, ApplyLimits limits);

  // Applies one entry. REQUIRES: for kRegular entries `data` yields exactly entry.size bytes.
  // Errors name the entry: `entry "a/b": ...`.
  Status Apply(const TarEntry& entry, ByteSource* data);
  // Applies the layer's whiteouts and starts a fresh layer.
  void EndLayer();

  const ApplyStats& stats() const { return stats_; }

 private:
  Status ApplyInner(const TarEntry& entry, ByteSource* data);
  // Resolves `components` as a directory path; nullptr (OK) if a component is missing and
  // !create. Marks every step as touched by this layer when `create`.
  Result<Inode*> ResolveDir(const std::vector<std::string>& components, size_t count, bool create);
  Status ApplyHardlink(const TarEntry& entry, Inode* parent, const std::string& name);
  static uint64_t TouchKey(const Inode* dir, std::string_view name);
  void MarkTouched(const Inode* dir, std::string_view name);
  bool IsTouched(const Inode* dir, std::string_view name) const;
  void ClearLower(Inode* dir);  // removes children not touched by this layer, recursively
  void Replace(Inode* parent, const std::string& name, std::shared_ptr<Inode> node);

  FsTree* tree_;
  ContentWriter* writer_;
  ApplyLimits limits_;
  ApplyStats stats_;
  // Per layer: (directory, name) pairs this layer created or declared, deferred whiteouts, and
  // inodes dropped during the layer, kept alive so their addresses stay unique until EndLayer.
  struct IdentityHash {
    size_t operator()(uint64_t v) const { return static_cast<size_t>(v); }
  };
  std::unordered_set<uint64_t, IdentityHash> touched_;
  std::vector<std::pair<Inode*, std::string>> whiteouts_;
  std::vector<Inode*> opaque_dirs_;
  std::vector<std::shared_ptr<Inode>> graveyard_;
  // The last parent directory resolved for an entry (tar entries come grouped by directory).
  // Valid while no existing entry is replaced and within one layer, since its steps are then
  // already marked touched.
  std::vector<std::string> cached_parent_parts_;
  Inode* cached_parent_ = nullptr;
};

}  // namespace imgfs::indexer
