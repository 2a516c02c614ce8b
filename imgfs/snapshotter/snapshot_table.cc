#include "imgfs/snapshotter/snapshot_table.h"

#include <errno.h>

#include <nlohmann/json.hpp>
#include <set>

#include "core/fd.h"

namespace imgfs::snapshotter {

namespace {

constexpr int kFormatVersion = 1;

Result<Kind> ParseKind(const std::string& s) {
  if (s == "view") return Kind::kView;
  if (s == "active") return Kind::kActive;
  if (s == "committed") return Kind::kCommitted;
  return Status::Corruption("unknown snapshot kind '" + s + "'");
}

nlohmann::json ToJson(const SnapshotInfo& s) {
  nlohmann::json j = {{"name", s.name},     {"parent", s.parent},      {"kind", KindName(s.kind)},
                      {"labels", s.labels}, {"created", s.created_ns}, {"updated", s.updated_ns},
                      {"id", s.id}};
  if (s.remote)
    j["remote"] = {{"index", s.remote->index},
                   {"remote", s.remote->remote},
                   {"layers", s.remote->layers},
                   {"total", s.remote->total}};
  return j;
}

Result<SnapshotInfo> FromJson(const nlohmann::json& j) {
  SnapshotInfo s;
  try {
    s.name = j.at("name").get<std::string>();
    s.parent = j.at("parent").get<std::string>();
    ASSIGN_OR_RETURN(s.kind, ParseKind(j.at("kind").get<std::string>()));
    s.labels = j.at("labels").get<Labels>();
    s.created_ns = j.at("created").get<int64_t>();
    s.updated_ns = j.at("updated").get<int64_t>();
    s.id = j.at("id").get<uint64_t>();
    if (j.contains("remote")) {
      const auto& r = j.at("remote");
      s.remote = RemoteLayer{r.at("index").get<std::string>(), r.at("remote").get<std::string>(),
                             r.at("layers").get<uint32_t>(), r.at("total").get<uint32_t>()};
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(std::string("snapshot record: ") + e.what());
  }
  if (s.name.empty() || s.id == 0) return Status::Corruption("snapshot record without name or id");
  return s;
}

}  // namespace

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kView:
      return "view";
    case Kind::kActive:
      return "active";
    case Kind::kCommitted:
      return "committed";
  }
  return "unknown";
}

Status CheckLabels(const Labels& labels) {
  for (const auto& [k, v] : labels) {
    if (k.empty()) return Status::InvalidArgument("a label with an empty name");
    if (k.size() + v.size() > kMaxLabelBytes)
      return Status::InvalidArgument("label " + k.substr(0, 64) + " is over 4096 bytes");
  }
  return Status::Ok();
}

Result<SnapshotTable> SnapshotTable::Load(const std::string& path) {
  SnapshotTable table(path);
  if (path.empty()) return table;
  Result<std::string> text = ReadFileToString(path, kMaxMetadataBytes);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound || text.status().error_number() == ENOENT)
      return table;
    return text.status().WithContext(path);
  }
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != kFormatVersion ||
      !j.contains("snapshots") || !j["snapshots"].is_array() || !j.contains("next_id") ||
      !j["next_id"].is_number_unsigned())
    return Status::Corruption(path + ": not a version 1 snapshot table");
  table.next_id_ = j["next_id"].get<uint64_t>();
  std::set<uint64_t> ids;
  for (const auto& e : j["snapshots"]) {
    Result<SnapshotInfo> s = FromJson(e);
    if (!s.ok()) return s.status().WithContext(path);
    if (s->id >= table.next_id_ || !ids.insert(s->id).second ||
        !table.snapshots_.emplace(s->name, *s).second)
      return Status::Corruption(path + ": snapshot " + s->name + " repeats a name or an id");
  }
  for (const auto& [name, s] : table.snapshots_) {
    if (s.parent.empty()) continue;
    auto p = table.snapshots_.find(s.parent);
    if (p == table.snapshots_.end() || p->second.kind != Kind::kCommitted)
      return Status::Corruption(path + ": snapshot " + name + " has no committed parent");
  }
  return table;
}

std::string SnapshotTable::Serialize() const {
  nlohmann::json all = nlohmann::json::array();
  for (const auto& [name, s] : snapshots_) all.push_back(ToJson(s));
  nlohmann::json j = {{"version", kFormatVersion}, {"next_id", next_id_}, {"snapshots", all}};
  return j.dump(1) + "\n";
}

Status SnapshotTable::Save() const {
  if (path_.empty()) return Status::Ok();
  return WriteFileAtomic(path_, Serialize(), 0600);
}

Status SnapshotTable::CheckNew(const std::string& key, const std::string& parent,
                               const Labels& labels) const {
  if (key.empty()) return Status::InvalidArgument("a snapshot needs a key");
  if (snapshots_.count(key)) return Status::AlreadyExists("snapshot " + key + " already exists");
  if (!parent.empty()) {
    auto p = snapshots_.find(parent);
    if (p == snapshots_.end()) return Status::NotFound("parent snapshot " + parent + " not found");
    if (p->second.kind != Kind::kCommitted)
      return Status::InvalidArgument("parent " + parent + " is not a committed snapshot");
  }
  return CheckLabels(labels);
}

Result<SnapshotInfo> SnapshotTable::Create(const std::string& key, const std::string& parent,
                                           Kind kind, const Labels& labels, int64_t now_ns) {
  if (kind == Kind::kCommitted) return Status::InvalidArgument("create active or view snapshots");
  RETURN_IF_ERROR(CheckNew(key, parent, labels));
  SnapshotInfo s{key, parent, kind, labels, now_ns, now_ns, next_id_, std::nullopt};
  ++next_id_;
  snapshots_.emplace(key, s);
  if (Status saved = Save(); !saved.ok()) {
    snapshots_.erase(key);
    return saved;
  }
  return s;
}

Result<SnapshotInfo> SnapshotTable::CreateRemote(const std::string& name, const std::string& parent,
                                                 const Labels& labels, const RemoteLayer& remote,
                                                 int64_t now_ns) {
  RETURN_IF_ERROR(CheckNew(name, parent, labels));
  SnapshotInfo s{name, parent, Kind::kCommitted, labels, now_ns, now_ns, next_id_, remote};
  ++next_id_;
  snapshots_.emplace(name, s);
  if (Status saved = Save(); !saved.ok()) {
    snapshots_.erase(name);
    return saved;
  }
  return s;
}

Result<SnapshotInfo> SnapshotTable::Commit(const std::string& name, const std::string& key,
                                           const Labels& labels, int64_t now_ns) {
  auto it = snapshots_.find(key);
  if (it == snapshots_.end()) return Status::NotFound("snapshot " + key + " not found");
  if (it->second.kind != Kind::kActive)
    return Status::InvalidArgument("snapshot " + key + " is not active");
  if (name.empty()) return Status::InvalidArgument("a committed snapshot needs a name");
  if (snapshots_.count(name)) return Status::AlreadyExists("snapshot " + name + " already exists");
  RETURN_IF_ERROR(CheckLabels(labels));
  SnapshotInfo old = it->second;
  SnapshotInfo s = old;
  s.name = name;
  s.kind = Kind::kCommitted;
  s.labels = labels;
  s.created_ns = now_ns;
  s.updated_ns = now_ns;
  snapshots_.erase(it);
  snapshots_.emplace(name, s);
  if (Status saved = Save(); !saved.ok()) {
    snapshots_.erase(name);
    snapshots_.emplace(key, old);
    return saved;
  }
  return s;
}

Result<SnapshotInfo> SnapshotTable::Update(const SnapshotInfo& info,
                                           const std::vector<std::string>& fields, int64_t now_ns) {
  auto it = snapshots_.find(info.name);
  if (it == snapshots_.end()) return Status::NotFound("snapshot " + info.name + " not found");
  Labels labels = it->second.labels;
  if (fields.empty()) labels = info.labels;
  for (const std::string& f : fields) {
    if (f == "labels") {
      labels = info.labels;
    } else if (f.rfind("labels.", 0) == 0 && f.size() > 7) {
      std::string k = f.substr(7);
      auto v = info.labels.find(k);
      if (v == info.labels.end())
        labels.erase(k);
      else
        labels[k] = v->second;
    } else {
      return Status::InvalidArgument("cannot update field " + f + " of a snapshot");
    }
  }
  RETURN_IF_ERROR(CheckLabels(labels));
  SnapshotInfo old = it->second;
  it->second.labels = std::move(labels);
  it->second.updated_ns = now_ns;
  if (Status saved = Save(); !saved.ok()) {
    it->second = old;
    return saved;
  }
  return it->second;
}

Result<SnapshotInfo> SnapshotTable::Remove(const std::string& key) {
  auto it = snapshots_.find(key);
  if (it == snapshots_.end()) return Status::NotFound("snapshot " + key + " not found");
  if (HasChildren(key))
    return Status::InvalidArgument("snapshot " + key + " has children; remove them first");
  SnapshotInfo old = it->second;
  snapshots_.erase(it);
  if (Status saved = Save(); !saved.ok()) {
    snapshots_.emplace(key, old);
    return saved;
  }
  return old;
}

Result<SnapshotInfo> SnapshotTable::Get(const std::string& key) const {
  auto it = snapshots_.find(key);
  if (it == snapshots_.end()) return Status::NotFound("snapshot " + key + " not found");
  return it->second;
}

std::vector<SnapshotInfo> SnapshotTable::List() const {
  std::vector<SnapshotInfo> out;
  for (const auto& [name, s] : snapshots_) out.push_back(s);
  return out;
}

Result<std::vector<SnapshotInfo>> SnapshotTable::Ancestors(const std::string& key) const {
  ASSIGN_OR_RETURN(SnapshotInfo s, Get(key));
  std::vector<SnapshotInfo> out;
  for (std::string p = s.parent; !p.empty();) {
    if (out.size() > snapshots_.size()) return Status::Corruption("a cycle of parents at " + key);
    ASSIGN_OR_RETURN(SnapshotInfo parent, Get(p));
    p = parent.parent;
    out.push_back(std::move(parent));
  }
  return out;
}

bool SnapshotTable::HasChildren(const std::string& key) const {
  for (const auto& [name, s] : snapshots_)
    if (s.parent == key) return true;
  return false;
}

std::vector<uint64_t> SnapshotTable::Ids() const {
  std::vector<uint64_t> ids;
  for (const auto& [name, s] : snapshots_) ids.push_back(s.id);
  return ids;
}

}  // namespace imgfs::snapshotter
