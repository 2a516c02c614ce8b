#include "indexer/layer_apply.h"

#include <algorithm>
#include <cstring>

namespace imgfs::indexer {
namespace {

constexpr int kMaxSymlinkFollows = 40;
constexpr size_t kMaxDepth = 2048;  // directory levels; PATH_MAX allows no more
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kWhiteoutMetaPrefix = ".wh..wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

std::string Quote(std::string_view path) {
  std::string out = "\"";
  for (char c : path.substr(0, 512)) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  if (path.size() > 512) out += "...";
  return out + "\"";
}

uint32_t TypeBits(TarEntryType type) {
  switch (type) {
    case TarEntryType::kRegular:
      return S_IFREG;
    case TarEntryType::kDirectory:
      return S_IFDIR;
    case TarEntryType::kSymlink:
      return S_IFLNK;
    case TarEntryType::kCharDevice:
      return S_IFCHR;
    case TarEntryType::kBlockDevice:
      return S_IFBLK;
    case TarEntryType::kFifo:
      return S_IFIFO;
    case TarEntryType::kHardlink:
      return 0;
  }
  return 0;
}

void SetAttributes(const TarEntry& e, Inode* node) {
  node->mode = TypeBits(e.type) | (e.mode & 07777);
  if (e.type == TarEntryType::kSymlink) node->mode = S_IFLNK | 0777;
  node->uid = e.uid;
  node->gid = e.gid;
  node->mtime_sec = e.mtime_sec;
  node->mtime_nsec = e.mtime_nsec;
  node->xattrs = e.xattrs;
}

}  // namespace

Result<std::vector<std::string>> CleanEntryPath(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view c = path.substr(i, j - i);
    if (c == "..") {
      if (out.empty()) return Status::InvalidArgument("path leaves the image root");
      out.pop_back();
    } else if (!c.empty() && c != ".") {
      out.emplace_back(c);
    }
    i = j + 1;
  }
  return out;
}

LayerApplier::LayerApplier(FsTree* tree, ContentWriter* writer, ApplyLimits limits)
    : tree_(tree), writer_(writer), limits_(limits) {}

// A 64-bit key per (directory, name). A collision could only keep a lower-layer entry that a
// whiteout meant to hide, which the author of the whiteout's layer could do anyway.
uint64_t LayerApplier::TouchKey(const Inode* dir, std::string_view name) {
  return Xxh3(name.data(), name.size()) ^
         (static_cast<uint64_t>(reinterpret_cast<uintptr_t>(dir)) * 0x9E3779B97F4A7C15ull);
}

void LayerApplier::MarkTouched(const Inode* dir, std::string_view name) {
  touched_.insert(TouchKey(dir, name));
}

bool LayerApplier::IsTouched(const Inode* dir, std::string_view name) const {
  return touched_.count(TouchKey(dir, name)) != 0;
}

void LayerApplier::Replace(Inode* parent, const std::string& name, std::shared_ptr<Inode> node) {
  auto [it, inserted] = parent->children.try_emplace(name, nullptr);
  if (!inserted) {
    graveyard_.push_back(std::move(it->second));
    cached_parent_ = nullptr;  // it may have been on the cached path
  }
  it->second = std::move(node);
}

Result<Inode*> LayerApplier::ResolveDir(const std::vector<std::string>& components, size_t count,
                                        bool create) {
  std::vector<Inode*> stack{tree_->root.get()};
  // Remaining components, last first; symlink targets are spliced in as they are met.
  std::vector<std::string> pending(components.rbegin() + (components.size() - count),
                                   components.rend());
  int follows = 0;
  while (!pending.empty()) {
    std::string c = std::move(pending.back());
    pending.pop_back();
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (stack.size() > 1) stack.pop_back();
      continue;
    }
    Inode* dir = stack.back();
    auto it = dir->children.find(c);
    if (it == dir->children.end()) {
      if (!create) return nullptr;
      if (stack.size() > kMaxDepth) return Status::InvalidArgument("directory tree too deep");
      auto made = std::make_shared<Inode>();  // 0755 root:root, mtime 0
      Inode* raw = made.get();
      MarkTouched(dir, c);
      dir->children.emplace(std::move(c), std::move(made));
      stack.push_back(raw);
      continue;
    }
    Inode* child = it->second.get();
    if (create) MarkTouched(dir, c);
    if (child->IsSymlink()) {
      if (++follows > kMaxSymlinkFollows) {
        return Status::InvalidArgument("too many levels of symbolic links");
      }
      const std::string& target = child->link_target;
      if (!target.empty() && target[0] == '/') stack.resize(1);
      size_t end = target.size();
      while (true) {  // push the target's components, last first
        size_t slash = end == 0 ? std::string::npos : target.rfind('/', end - 1);
        size_t start = slash == std::string::npos ? 0 : slash + 1;
        if (end > start) pending.emplace_back(target.substr(start, end - start));
        if (slash == std::string::npos) break;
        end = slash;
      }
      continue;
    }
    if (!child->IsDir()) return Status::InvalidArgument("a parent component is not a directory");
    if (stack.size() > kMaxDepth) return Status::InvalidArgument("directory tree too deep");
    stack.push_back(child);
  }
  return stack.back();
}

Status LayerApplier::Apply(const TarEntry& entry, ByteSource* data) {
  Status s = ApplyInner(entry, data);
  if (!s.ok()) return s.WithContext("entry " + Quote(entry.path));
  return s;
}

Status LayerApplier::ApplyInner(const TarEntry& entry, ByteSource* data) {
  if (++stats_.entries > limits_.max_entries) {
    return Status::ResourceExhausted("more than " + std::to_string(limits_.max_entries) +
                                     " entries in the image");
  }
  ASSIGN_OR_RETURN(std::vector<std::string> parts, CleanEntryPath(entry.path));
  if (parts.empty()) {  // the root itself
    if (entry.type != TarEntryType::kDirectory) {
      return Status::InvalidArgument("the root entry is not a directory");
    }
    SetAttributes(entry, tree_->root.get());
    return Status::Ok();
  }
  const std::string& name = parts.back();
  if (name.starts_with(kWhiteoutPrefix)) {
    ASSIGN_OR_RETURN(Inode * dir, ResolveDir(parts, parts.size() - 1, /*create=*/false));
    if (dir == nullptr) return Status::Ok();  // nothing below to hide
    if (name == kOpaqueMarker) {
      opaque_dirs_.push_back(dir);
    } else if (!name.starts_with(kWhiteoutMetaPrefix)) {  // other .wh..wh. names: aufs metadata
      std::string target = name.substr(kWhiteoutPrefix.size());
      if (target.empty() || target == "." || target == "..") {
        return Status::InvalidArgument("invalid whiteout name");
      }
      whiteouts_.emplace_back(dir, std::move(target));
    }
    return Status::Ok();
  }

  Inode* parent = cached_parent_;
  if (parent == nullptr || cached_parent_parts_.size() != parts.size() - 1 ||
      !std::equal(cached_parent_parts_.begin(), cached_parent_parts_.end(), parts.begin())) {
    ASSIGN_OR_RETURN(parent, ResolveDir(parts, parts.size() - 1, /*create=*/true));
    cached_parent_parts_.assign(parts.begin(), parts.end() - 1);
    cached_parent_ = parent;
  }
  MarkTouched(parent, name);
  if (entry.type == TarEntryType::kHardlink) return ApplyHardlink(entry, parent, name);

  auto existing = parent->children.find(name);
  if (entry.type == TarEntryType::kDirectory) {
    if (existing != parent->children.end() && existing->second->IsDir()) {
      SetAttributes(entry, existing->second.get());  // children stay
      return Status::Ok();
    }
    if (parts.size() > kMaxDepth) return Status::InvalidArgument("directory tree too deep");
  }
  auto node = std::make_shared<Inode>();
  SetAttributes(entry, node.get());
  switch (entry.type) {
    case TarEntryType::kRegular: {
      if (entry.size > limits_.max_file_size) {
        return Status::ResourceExhausted("file size " + std::to_string(entry.size) +
                                         " exceeds the limit of " +
                                         std::to_string(limits_.max_file_size));
      }
      if (data == nullptr) return Status::Internal("regular file without data");
      ASSIGN_OR_RETURN(node->content, writer_->AddFile(*data, entry.size));
      node->size = entry.size;
      stats_.file_bytes += entry.size;
      break;
    }
    case TarEntryType::kSymlink:
      node->link_target = entry.link_target;
      node->size = entry.link_target.size();
      break;
    case TarEntryType::kCharDevice:
    case TarEntryType::kBlockDevice:
      node->rdev_major = entry.rdev_major;
      node->rdev_minor = entry.rdev_minor;
      break;
    default:
      break;
  }
  Replace(parent, name, std::move(node));
  return Status::Ok();
}

Status LayerApplier::ApplyHardlink(const TarEntry& entry, Inode* parent, const std::string& name) {
  Result<std::vector<std::string>> target = CleanEntryPath(entry.link_target);
  if (!target.ok() || target->empty()) {
    return Status::InvalidArgument("hardlink target " + Quote(entry.link_target) +
                                   " leaves the image root");
  }
  Result<Inode*> dir = ResolveDir(*target, target->size() - 1, /*create=*/false);
  if (!dir.ok() || *dir == nullptr) {
    return Status::InvalidArgument("hardlink target " + Quote(entry.link_target) + " is missing");
  }
  auto it = (*dir)->children.find(target->back());
  if (it == (*dir)->children.end()) {
    return Status::InvalidArgument("hardlink target " + Quote(entry.link_target) + " is missing");
  }
  if (it->second->IsDir()) {
    return Status::InvalidArgument("hardlink target " + Quote(entry.link_target) +
                                   " is a directory");
  }
  std::shared_ptr<Inode> shared = it->second;
  auto existing = parent->children.find(name);
  if (existing != parent->children.end() && existing->second == shared) return Status::Ok();
  Replace(parent, name, std::move(shared));
  return Status::Ok();
}

void LayerApplier::ClearLower(Inode* top) {
  std::vector<Inode*> todo{top};
  while (!todo.empty()) {
    Inode* dir = todo.back();
    todo.pop_back();
    for (auto it = dir->children.begin(); it != dir->children.end();) {
      if (!IsTouched(dir, it->first)) {
        graveyard_.push_back(std::move(it->second));
        it = dir->children.erase(it);
        continue;
      }
      if (it->second->IsDir()) todo.push_back(it->second.get());
      ++it;
    }
  }
}

void LayerApplier::EndLayer() {
  for (auto& [dir, name] : whiteouts_) {
    auto it = dir->children.find(name);
    if (it == dir->children.end()) continue;
    if (!IsTouched(dir, name)) {
      graveyard_.push_back(std::move(it->second));
      dir->children.erase(it);
    } else if (it->second->IsDir()) {
      ClearLower(it->second.get());  // re-created in this layer: only its lower contents go
    }
  }
  for (Inode* dir : opaque_dirs_) ClearLower(dir);
  cached_parent_ = nullptr;
  touched_.clear();
  whiteouts_.clear();
  opaque_dirs_.clear();
  graveyard_.clear();
}

}  // namespace imgfs::indexer
