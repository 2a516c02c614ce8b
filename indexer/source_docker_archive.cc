// The "docker-archive:FILE[:REF]" image source: a tarball written by docker save, podman save or
// skopeo. Its members are located once by scanning the (uncompressed) outer tar's headers and
// then read in place with pread; nothing is extracted.
#include <fcntl.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "core/fd.h"
#include "indexer/decompress.h"
#include "indexer/image_source.h"
#include "indexer/layer_apply.h"

namespace imgfs::indexer {
namespace {

struct Member {
  uint64_t offset = 0;
  uint64_t size = 0;
};

// Parses a tar numeric field: octal text or GNU base-256.
Result<uint64_t> TarNumber(const uint8_t* p, size_t n) {
  if (p[0] & 0x80) {
    if (p[0] != 0x80) return Status::Corruption("negative tar number");
    uint64_t v = 0;
    for (size_t i = 1; i < n; ++i) {
      if (v >> 56) return Status::Corruption("tar number overflow");
      v = v << 8 | p[i];
    }
    return v;
  }
  uint64_t v = 0;
  size_t i = 0;
  while (i < n && p[i] == ' ') ++i;
  for (; i < n && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v >> 60) return Status::Corruption("tar number overflow");
    v = v * 8 + (p[i] - '0');
  }
  return v;
}

std::string Field(const uint8_t* p, size_t n) {
  return std::string(reinterpret_cast<const char*>(p),
                     strnlen(reinterpret_cast<const char*>(p), n));
}

// Member names normalized: cleaned, no leading "./" or "/".
std::string NormalizeName(std::string_view name) {
  Result<std::vector<std::string>> parts = CleanEntryPath(name);
  if (!parts.ok()) return std::string(name);
  std::string out;
  for (const std::string& p : *parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

Result<std::map<std::string, Member>> ScanOuterTar(int fd, uint64_t file_size) {
  std::map<std::string, Member> members;
  std::vector<std::pair<std::string, std::string>> links;  // name -> target, archive-relative
  uint64_t pos = 0;
  std::string long_name;
  uint8_t h[512];
  while (pos + 512 <= file_size) {
    ASSIGN_OR_RETURN(size_t got, PreadFull(fd, {h, 512}, pos));
    if (got != 512) break;
    bool zero = true;
    for (uint8_t b : h) zero = zero && b == 0;
    if (zero) break;
    uint64_t sum = 0;
    for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : h[i];
    ASSIGN_OR_RETURN(uint64_t stored_sum, TarNumber(h + 148, 8));
    if (sum != stored_sum) {
      return Status::InvalidArgument("not an uncompressed tar archive (bad header checksum at " +
                                     std::to_string(pos) + ")");
    }
    ASSIGN_OR_RETURN(uint64_t size, TarNumber(h + 124, 12));
    uint64_t data = pos + 512;
    if (size > file_size || data > file_size - size) {
      return Status::Corruption("tar member at " + std::to_string(pos) + " runs past the end");
    }
    char type = static_cast<char>(h[156]);
    std::string name = Field(h, 100);
    if (memcmp(h + 257, "ustar", 5) == 0 && h[345] != 0) name = Field(h + 345, 155) + "/" + name;
    if (type == 'L' || type == 'x') {
      if (size > (1 << 20)) return Status::Corruption("oversized tar extension header");
      std::string ext(size, '\0');
      ASSIGN_OR_RETURN(size_t n,
                       PreadFull(fd, {reinterpret_cast<uint8_t*>(ext.data()), size}, data));
      if (n != size) return Status::Corruption("truncated tar extension header");
      if (type == 'L') {
        long_name = std::string(ext.c_str());
      } else {  // PAX records: "LEN key=value\n"
        size_t i = 0;
        while (i < ext.size()) {
          size_t sp = ext.find(' ', i);
          if (sp == std::string::npos) break;
          uint64_t len = std::strtoull(ext.c_str() + i, nullptr, 10);
          if (len == 0 || i + len > ext.size()) break;
          std::string rec = ext.substr(sp + 1, i + len - sp - 2);
          if (rec.rfind("path=", 0) == 0) long_name = rec.substr(5);
          i += len;
        }
      }
    } else if (type == '0' || type == '\0' || type == '7') {
      members[NormalizeName(long_name.empty() ? name : long_name)] = Member{data, size};
      long_name.clear();
    } else if (type == '1' || type == '2') {  // docker 25 links <id>/layer.tar to blobs
      std::string link_name = NormalizeName(long_name.empty() ? name : long_name);
      std::string target = Field(h + 157, 100);
      if (type == '2') {
        size_t slash = link_name.rfind('/');
        if (slash != std::string::npos) target = link_name.substr(0, slash + 1) + target;
      }
      links.emplace_back(std::move(link_name), NormalizeName(target));
      long_name.clear();
    } else {
      long_name.clear();
    }
    pos = data + (size + 511) / 512 * 512;
  }
  for (const auto& [name, target] : links) {
    auto it = members.find(target);
    if (it != members.end()) members.emplace(name, it->second);
  }
  return members;
}

// skopeo and podman store fully qualified names ("docker.io/library/img:1"); users type "img:1".
bool RefMatches(const std::string& stored, std::string ref) {
  size_t slash = ref.rfind('/');
  if (ref.find(':', slash == std::string::npos ? 0 : slash) == std::string::npos) ref += ":latest";
  return stored == ref || stored == "docker.io/" + ref || stored == "docker.io/library/" + ref;
}

class DockerArchiveSource : public ImageSource {
 public:
  DockerArchiveSource(std::string file, SourceOptions options)
      : file_(std::move(file)), options_(std::move(options)) {}
  Status Open(const std::string& ref);
  const ResolvedImage& image() const override { return image_; }
  Result<std::unique_ptr<ByteSource>> OpenLayer(size_t i) override;

 private:
  Result<std::string> ReadMember(const std::string& name);

  std::string file_;
  SourceOptions options_;
  std::shared_ptr<const UniqueFd> fd_;
  std::map<std::string, Member> members_;
  std::vector<Member> layer_members_;
  ResolvedImage image_;
};

Result<std::string> DockerArchiveSource::ReadMember(const std::string& name) {
  auto it = members_.find(NormalizeName(name));
  if (it == members_.end()) return Status::NotFound("\"" + name + "\" is not in the archive");
  if (it->second.size > options_.max_json_size) {
    return Status::ResourceExhausted("\"" + name + "\": " + std::to_string(it->second.size) +
                                     " bytes exceeds the JSON limit of " +
                                     std::to_string(options_.max_json_size));
  }
  std::string out(it->second.size, '\0');
  ASSIGN_OR_RETURN(size_t n,
                   PreadFull(fd_->get(), {reinterpret_cast<uint8_t*>(out.data()), out.size()},
                             it->second.offset));
  if (n != out.size()) return Status::Corruption("\"" + name + "\" is truncated");
  return out;
}

Status DockerArchiveSource::Open(const std::string& ref) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(file_, O_RDONLY));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "fstat " + file_);
  fd_ = std::make_shared<const UniqueFd>(std::move(fd));
  ASSIGN_OR_RETURN(members_, ScanOuterTar(fd_->get(), static_cast<uint64_t>(st.st_size)));
  ASSIGN_OR_RETURN(std::string manifest_json, ReadMember("manifest.json"));
  if (manifest_json.size() > options_.max_json_size)
    return Status::ResourceExhausted("manifest.json too large");
  auto j = nlohmann::json::parse(manifest_json, nullptr, false);
  if (j.is_discarded() || !j.is_array() || j.empty()) {
    return Status::InvalidArgument("manifest.json: malformed JSON or not a non-empty array");
  }
  const nlohmann::json* chosen = nullptr;
  if (ref.empty()) {
    if (j.size() != 1) {
      return Status::InvalidArgument("archive holds " + std::to_string(j.size()) +
                                     " images; name one with docker-archive:FILE:REF");
    }
    chosen = &j[0];
  } else {
    for (const auto& m : j) {
      if (!m.is_object() || !m.contains("RepoTags") || !m["RepoTags"].is_array()) continue;
      for (const auto& t : m["RepoTags"]) {
        if (t.is_string() && RefMatches(t.get<std::string>(), ref)) chosen = &m;
      }
    }
    if (!chosen) return Status::NotFound("\"" + ref + "\" not found in manifest.json RepoTags");
  }
  if (!chosen->is_object() || !chosen->contains("Config") || !(*chosen)["Config"].is_string() ||
      !chosen->contains("Layers") || !(*chosen)["Layers"].is_array()) {
    return Status::InvalidArgument("manifest.json: entry lacks Config or Layers");
  }
  image_.manifest_digest = Sha256(manifest_json).ToString();
  ASSIGN_OR_RETURN(image_.config_json, ReadMember((*chosen)["Config"].get<std::string>()));
  Result<oci::Config> config = oci::ParseConfig(image_.config_json, options_.max_json_size);
  if (!config.ok()) return config.status().WithContext("config");
  image_.config = std::move(*config);
  const auto& layers = (*chosen)["Layers"];
  if (layers.size() != image_.config.diff_ids.size()) {
    return Status::InvalidArgument("manifest.json lists " + std::to_string(layers.size()) +
                                   " layers but the config has " +
                                   std::to_string(image_.config.diff_ids.size()) + " diff_ids");
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!layers[i].is_string())
      return Status::InvalidArgument("manifest.json: layer is not a string");
    std::string name = NormalizeName(layers[i].get<std::string>());
    auto it = members_.find(name);
    if (it == members_.end())
      return Status::NotFound("layer \"" + name + "\" is not in the archive");
    LayerBlob blob;
    blob.stored_size = it->second.size;
    blob.diff_id = image_.config.diff_ids[i];
    if (name.rfind("blobs/sha256/", 0) == 0) {  // content-addressed: the name is the digest
      Result<Digest> d = Digest::Parse(name.substr(13));
      if (d.ok()) {
        blob.digest = *d;
        blob.size = it->second.size;
      }
    }
    image_.layers.push_back(std::move(blob));
    layer_members_.push_back(it->second);
  }
  return Status::Ok();
}

Result<std::unique_ptr<ByteSource>> DockerArchiveSource::OpenLayer(size_t i) {
  const Member& m = layer_members_[i];
  return std::unique_ptr<ByteSource>(std::make_unique<FdRangeSource>(fd_, m.offset, m.size));
}

}  // namespace

Result<std::unique_ptr<ImageSource>> OpenDockerArchive(const std::string& file,
                                                       const std::string& ref,
                                                       const SourceOptions& options) {
  auto source = std::make_unique<DockerArchiveSource>(file, options);
  Status s = source->Open(ref);
  if (!s.ok()) return s.WithContext("docker-archive " + file);
  return std::unique_ptr<ImageSource>(std::move(source));
}

}  // namespace imgfs::indexer
