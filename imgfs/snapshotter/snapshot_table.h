// The snapshotter's metadata: every snapshot containerd asked for (its key, kind, parent,
// labels, times and the number of its directory), kept in one JSON file that is rewritten
// atomically (write, fsync, rename) before any change is answered, so a restarted snapshotter
// finds exactly the snapshots it had acknowledged. A remote snapshot (a layer of an image that
// imgfs serves lazily) records the image it stands for.
//
// The rules are containerd's (snapshots/storage): a key is unique whatever its kind; a parent
// must be a committed snapshot; only an active snapshot can be committed (keeping its directory,
// under the new name); a snapshot with children cannot be removed; only labels can be updated.
// Labels: at most 4096 bytes per key and value together, as containerd allows.
//
// The file is ours but is read as untrusted: a malformed file is an error naming it, never a
// crash. Not thread-safe: the Snapshotter serializes access under its mutex.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::snapshotter {

using Labels = std::map<std::string, std::string>;

enum class Kind { kView = 1, kActive = 2, kCommitted = 3 };
const char* KindName(Kind kind);

// What a remote snapshot stands for: layer `layers` of `total` of an imgfs image (the chain of
// its first `layers` layers). Only a whole image (layers == total) can be mounted.
struct RemoteLayer {
  std::string index;   // the image's index digest
  std::string remote;  // its remote store URL ("" for an image whose chunks are all local)
  uint32_t layers = 0;
  uint32_t total = 0;
};

struct SnapshotInfo {
  std::string name;
  std::string parent;  // "" for none
  Kind kind = Kind::kActive;
  Labels labels;
  int64_t created_ns = 0;  // since the epoch
  int64_t updated_ns = 0;
  uint64_t id = 0;  // its directory: snapshots/ID
  std::optional<RemoteLayer> remote;
};

inline constexpr size_t kMaxLabelBytes = 4096;
inline constexpr size_t kMaxMetadataBytes = 256u << 20;

class SnapshotTable {
 public:
  // Reads PATH; a missing file is an empty table. Corruption when the file is malformed.
  [[nodiscard]] static Result<SnapshotTable> Load(const std::string& path);

  // A new active or view snapshot KEY on PARENT (committed, or ""), with a fresh id. Saved.
  // AlreadyExists: KEY is taken. NotFound: no PARENT. InvalidArgument: PARENT not committed,
  // bad labels, empty key.
  [[nodiscard]] Result<SnapshotInfo> Create(const std::string& key, const std::string& parent,
                                            Kind kind, const Labels& labels, int64_t now_ns);
  // A committed snapshot NAME on PARENT standing for REMOTE (no directory content). Saved.
  [[nodiscard]] Result<SnapshotInfo> CreateRemote(const std::string& name,
                                                  const std::string& parent, const Labels& labels,
                                                  const RemoteLayer& remote, int64_t now_ns);
  // Active KEY becomes committed NAME (same id and parent, LABELS replace its labels). Saved.
  [[nodiscard]] Result<SnapshotInfo> Commit(const std::string& name, const std::string& key,
                                            const Labels& labels, int64_t now_ns);
  // Updates KEY's labels: FIELDS empty replaces them all; else each "labels" (all) or
  // "labels.NAME" (one; removed when absent from INFO) is applied. Saved.
  [[nodiscard]] Result<SnapshotInfo> Update(const SnapshotInfo& info,
                                            const std::vector<std::string>& fields, int64_t now_ns);
  // Removes KEY, returning what it was. InvalidArgument when it has children. Saved.
  [[nodiscard]] Result<SnapshotInfo> Remove(const std::string& key);

  [[nodiscard]] Result<SnapshotInfo> Get(const std::string& key) const;
  std::vector<SnapshotInfo> List() const;
  // KEY's ancestors, nearest first (KEY itself not included).
  [[nodiscard]] Result<std::vector<SnapshotInfo>> Ancestors(const std::string& key) const;
  bool HasChildren(const std::string& key) const;
  // Whether Create(KEY, PARENT, ..., LABELS) would be accepted; the id it would give.
  [[nodiscard]] Status CheckCreate(const std::string& key, const std::string& parent,
                                   const Labels& labels) const {
    return CheckNew(key, parent, labels);
  }
  uint64_t next_id() const { return next_id_; }
  // The ids of every snapshot (their directories are the only ones that may exist).
  std::vector<uint64_t> Ids() const;

  // The JSON text of the table (what Save writes).
  std::string Serialize() const;

 private:
  explicit SnapshotTable(std::string path) : path_(std::move(path)) {}
  [[nodiscard]] Status Save() const;
  [[nodiscard]] Status CheckNew(const std::string& key, const std::string& parent,
                                const Labels& labels) const;

  std::string path_;  // "" in tests that do not persist
  uint64_t next_id_ = 1;
  std::map<std::string, SnapshotInfo> snapshots_;
};

[[nodiscard]] Status CheckLabels(const Labels& labels);

}  // namespace imgfs::snapshotter
