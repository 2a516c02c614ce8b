#include "core/oci_image.h"

#include <nlohmann/json.hpp>

namespace imgfs::oci {
namespace {

using Json = nlohmann::json;

Result<Json> ParseJson(std::string_view text, size_t max_size, std::string_view what) {
  if (text.size() > max_size) {
    return Status::ResourceExhausted(std::string(what) + ": " + std::to_string(text.size()) +
                                     " bytes exceeds the limit of " + std::to_string(max_size));
  }
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument(std::string(what) + ": malformed JSON");
  if (!j.is_object()) return Status::InvalidArgument(std::string(what) + ": not a JSON object");
  return j;
}

// Reads an optional string member; a present member of the wrong type is an error.
Status GetString(const Json& obj, const char* key, bool required, std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return Status::InvalidArgument(std::string("missing \"") + key + "\"");
    return Status::Ok();
  }
  if (!it->is_string())
    return Status::InvalidArgument(std::string("\"") + key + "\" is not a string");
  *out = it->get<std::string>();
  return Status::Ok();
}

Result<Platform> ParsePlatformObject(const Json& j) {
  if (!j.is_object()) return Status::InvalidArgument("\"platform\" is not an object");
  Platform p;
  RETURN_IF_ERROR(GetString(j, "os", true, &p.os));
  RETURN_IF_ERROR(GetString(j, "architecture", true, &p.architecture));
  RETURN_IF_ERROR(GetString(j, "variant", false, &p.variant));
  return p;
}

Result<Descriptor> ParseDescriptor(const Json& j) {
  if (!j.is_object()) return Status::InvalidArgument("descriptor is not an object");
  Descriptor d;
  RETURN_IF_ERROR(GetString(j, "mediaType", true, &d.media_type));
  std::string digest;
  RETURN_IF_ERROR(GetString(j, "digest", true, &digest));
  Result<Digest> parsed = Digest::Parse(digest);
  if (!parsed.ok() || digest.rfind("sha256:", 0) != 0) {
    return Status::InvalidArgument("unsupported or malformed digest \"" + digest.substr(0, 80) +
                                   "\"");
  }
  d.digest = *parsed;
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer()) {
    return Status::InvalidArgument("descriptor " + digest + ": missing or non-integer \"size\"");
  }
  d.size = size->get<int64_t>();
  if (d.size < 0) return Status::InvalidArgument("descriptor " + digest + ": negative size");
  auto ann = j.find("annotations");
  if (ann != j.end() && !ann->is_null()) {
    if (!ann->is_object()) return Status::InvalidArgument("\"annotations\" is not an object");
    for (auto it = ann->begin(); it != ann->end(); ++it) {
      if (!it->is_string()) return Status::InvalidArgument("annotation value is not a string");
      d.annotations[it.key()] = it->get<std::string>();
    }
  }
  auto plat = j.find("platform");
  if (plat != j.end() && !plat->is_null()) {
    ASSIGN_OR_RETURN(d.platform, ParsePlatformObject(*plat));
  }
  return d;
}

Status CheckSchemaVersion(const Json& j) {
  auto v = j.find("schemaVersion");
  if (v == j.end() || !v->is_number_integer() || v->get<int64_t>() != 2) {
    return Status::InvalidArgument("\"schemaVersion\" must be 2");
  }
  return Status::Ok();
}

}  // namespace

Result<Compression> LayerCompression(std::string_view mt) {
  using namespace media_type;
  if (mt == kOciLayerTar || mt == kOciLayerNdTar || mt == kDockerLayerTar)
    return Compression::kNone;
  if (mt == kOciLayerGzip || mt == kOciLayerNdGzip || mt == kDockerLayerGzip ||
      mt == kDockerLayerForeignGzip) {
    return Compression::kGzip;
  }
  if (mt == kOciLayerZstd || mt == kOciLayerNdZstd) return Compression::kZstd;
  return Status::InvalidArgument("unsupported layer media type \"" +
                                 std::string(mt.substr(0, 120)) + "\"");
}

bool IsIndexMediaType(std::string_view mt) {
  return mt == media_type::kOciIndex || mt == media_type::kDockerManifestList;
}
bool IsManifestMediaType(std::string_view mt) {
  return mt == media_type::kOciManifest || mt == media_type::kDockerManifest;
}

Result<Platform> Platform::Parse(std::string_view text) {
  Platform p;
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = text.find('/', start);
    parts.emplace_back(text.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty() ||
      (parts.size() == 3 && parts[2].empty())) {
    return Status::InvalidArgument("platform \"" + std::string(text) +
                                   "\" is not of the form os/arch[/variant]");
  }
  p.os = parts[0];
  p.architecture = parts[1];
  if (parts.size() == 3) p.variant = parts[2];
  return p;
}

bool Platform::Matches(const Platform& wanted) const {
  if (os != wanted.os || architecture != wanted.architecture) return false;
  if (wanted.variant.empty() || variant == wanted.variant) return true;
  // containerd normalizes arm64's default variant v8 to "".
  if (architecture == "arm64") {
    return (variant.empty() && wanted.variant == "v8") ||
           (variant == "v8" && wanted.variant.empty());
  }
  return false;
}

std::string Platform::ToString() const {
  return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
}

Result<Index> ParseIndex(std::string_view json, size_t max_size) {
  ASSIGN_OR_RETURN(Json j, ParseJson(json, max_size, "image index"));
  Status s = CheckSchemaVersion(j);
  if (!s.ok()) return s.WithContext("image index");
  Index index;
  s = GetString(j, "mediaType", false, &index.media_type);
  if (!s.ok()) return s.WithContext("image index");
  if (!index.media_type.empty() && !IsIndexMediaType(index.media_type)) {
    return Status::InvalidArgument("image index: unexpected mediaType \"" + index.media_type +
                                   "\"");
  }
  auto m = j.find("manifests");
  if (m == j.end() || !m->is_array()) {
    return Status::InvalidArgument("image index: missing \"manifests\" array");
  }
  for (const Json& d : *m) {
    Result<Descriptor> desc = ParseDescriptor(d);
    if (!desc.ok()) return desc.status().WithContext("image index");
    index.manifests.push_back(std::move(*desc));
  }
  return index;
}

Result<Manifest> ParseManifest(std::string_view json, size_t max_size) {
  ASSIGN_OR_RETURN(Json j, ParseJson(json, max_size, "image manifest"));
  Status s = CheckSchemaVersion(j);
  if (!s.ok()) return s.WithContext("image manifest");
  Manifest man;
  s = GetString(j, "mediaType", false, &man.media_type);
  if (!s.ok()) return s.WithContext("image manifest");
  if (!man.media_type.empty() && !IsManifestMediaType(man.media_type)) {
    return Status::InvalidArgument("image manifest: unexpected mediaType \"" + man.media_type +
                                   "\"");
  }
  auto c = j.find("config");
  if (c == j.end()) return Status::InvalidArgument("image manifest: missing \"config\"");
  Result<Descriptor> config = ParseDescriptor(*c);
  if (!config.ok()) return config.status().WithContext("image manifest: config");
  man.config = std::move(*config);
  auto l = j.find("layers");
  if (l == j.end() || !l->is_array()) {
    return Status::InvalidArgument("image manifest: missing \"layers\" array");
  }
  for (const Json& d : *l) {
    Result<Descriptor> desc = ParseDescriptor(d);
    if (!desc.ok()) return desc.status().WithContext("image manifest: layer");
    man.layers.push_back(std::move(*desc));
  }
  return man;
}

Result<Config> ParseConfig(std::string_view json, size_t max_size) {
  ASSIGN_OR_RETURN(Json j, ParseJson(json, max_size, "image config"));
  Config cfg;
  Status s = GetString(j, "os", false, &cfg.platform.os);
  if (s.ok()) s = GetString(j, "architecture", false, &cfg.platform.architecture);
  if (s.ok()) s = GetString(j, "variant", false, &cfg.platform.variant);
  if (!s.ok()) return s.WithContext("image config");
  auto rootfs = j.find("rootfs");
  if (rootfs == j.end() || !rootfs->is_object()) {
    return Status::InvalidArgument("image config: missing \"rootfs\" object");
  }
  std::string type;
  s = GetString(*rootfs, "type", true, &type);
  if (!s.ok()) return s.WithContext("image config: rootfs");
  if (type != "layers") {
    return Status::InvalidArgument("image config: rootfs.type \"" + type + "\" is not \"layers\"");
  }
  auto ids = rootfs->find("diff_ids");
  if (ids == rootfs->end() || !ids->is_array()) {
    return Status::InvalidArgument("image config: missing rootfs.diff_ids array");
  }
  for (const Json& id : *ids) {
    if (!id.is_string()) return Status::InvalidArgument("image config: diff_id is not a string");
    const std::string& text = id.get_ref<const std::string&>();
    Result<Digest> d = Digest::Parse(text);
    if (!d.ok() || text.rfind("sha256:", 0) != 0) {
      return Status::InvalidArgument("image config: malformed diff_id \"" + text.substr(0, 80) +
                                     "\"");
    }
    cfg.diff_ids.push_back(*d);
  }
  return cfg;
}

}  // namespace imgfs::oci
