#include "imgfs/registry/artifact.h"

#include <nlohmann/json.hpp>

#include "core/oci_image.h"

namespace imgfs::registry {
namespace {

using nlohmann::ordered_json;

ordered_json Descriptor(const BlobRef& b) {
  return {{"mediaType", b.media_type}, {"digest", b.digest.ToString()}, {"size", b.size}};
}

Result<BlobRef> ParseDescriptor(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) return Status::InvalidArgument(what + " is not an object");
  auto mt = j.find("mediaType"), d = j.find("digest"), size = j.find("size");
  if (mt == j.end() || !mt->is_string() || d == j.end() || !d->is_string() || size == j.end() ||
      !size->is_number_unsigned())
    return Status::InvalidArgument(what + ": mediaType, digest and size are required");
  Result<Digest> digest = Digest::Parse(d->get<std::string>());
  if (!digest.ok()) return Status::InvalidArgument(what + ": digest is not sha256:<hex>");
  return BlobRef{mt->get<std::string>(), *digest, size->get<uint64_t>()};
}

// The string at `key`, or "" when absent or not a string (json::value would throw).
template <typename Json>
std::string StringField(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->template get<std::string>() : std::string();
}

}  // namespace

std::string SourceManifest(std::string_view index_metadata) {
  nlohmann::json meta = nlohmann::json::parse(index_metadata, nullptr, false);
  return meta.is_object() ? StringField(meta, "manifest_digest") : "";
}

std::string ReferrersTag(const Digest& subject) { return "sha256-" + subject.Hex(); }
std::string IndexTag(const Digest& index) { return "imgfs-" + index.Hex(); }

std::string BuildArtifactManifest(const Artifact& a) {
  ordered_json layers = ordered_json::array();
  layers.push_back(Descriptor(a.index));
  if (a.compressed_index) layers.push_back(Descriptor(*a.compressed_index));
  if (a.trace) layers.push_back(Descriptor(*a.trace));
  for (const BlobRef& p : a.packs) layers.push_back(Descriptor(p));
  ordered_json m = {
      {"schemaVersion", 2},
      {"mediaType", oci::media_type::kOciManifest},
      {"artifactType", kArtifactType},
      {"config",
       Descriptor({std::string(kEmptyConfigType), Sha256(kEmptyConfig), kEmptyConfig.size()})},
      {"layers", layers},
  };
  if (a.subject) m["subject"] = Descriptor(*a.subject);
  m["annotations"] = {{std::string(kIndexDigestAnnotation), a.index.digest.ToString()}};
  return m.dump();
}

Result<Artifact> ParseArtifactManifest(std::string_view text, size_t max_size) {
  if (text.size() > max_size) return Status::ResourceExhausted("artifact manifest too large");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status::InvalidArgument("artifact manifest is not a JSON object");
  if (StringField(j, "artifactType") != kArtifactType)
    return Status::NotFound("not an imgfs artifact (artifactType is not " +
                            std::string(kArtifactType) + ")");
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array() || layers->empty())
    return Status::InvalidArgument("imgfs artifact without layers");
  Artifact a;
  bool have_index = false;
  for (size_t i = 0; i < layers->size(); ++i) {
    ASSIGN_OR_RETURN(BlobRef b, ParseDescriptor((*layers)[i], "layer " + std::to_string(i)));
    if (b.media_type == kIndexLayerType) {
      if (have_index) return Status::InvalidArgument("imgfs artifact with two indexes");
      have_index = true;
      a.index = b;
    } else if (b.media_type == kCompressedIndexLayerType) {
      if (a.compressed_index)
        return Status::InvalidArgument("imgfs artifact with two compressed indexes");
      a.compressed_index = b;
    } else if (b.media_type == kTraceLayerType) {
      if (a.trace) return Status::InvalidArgument("imgfs artifact with two traces");
      a.trace = b;
    } else if (b.media_type == kPackLayerType) {
      a.packs.push_back(b);
    }  // other layer types: a later version's; ignored
  }
  if (!have_index) return Status::InvalidArgument("imgfs artifact without an index layer");
  if (auto s = j.find("subject"); s != j.end()) {
    ASSIGN_OR_RETURN(BlobRef subject, ParseDescriptor(*s, "subject"));
    a.subject = subject;
  }
  return a;
}

Result<std::string> AddReferrer(std::optional<std::string_view> existing,
                                const Digest& artifact_manifest, uint64_t size,
                                const Digest& index_digest) {
  ordered_json index = {{"schemaVersion", 2},
                        {"mediaType", oci::media_type::kOciIndex},
                        {"manifests", ordered_json::array()}};
  if (existing) {
    ordered_json old = ordered_json::parse(*existing, nullptr, false);
    if (old.is_discarded() || !old.is_object() || !old.contains("manifests") ||
        !old["manifests"].is_array())
      return Status::InvalidArgument("the referrers tag holds something other than an image index");
    for (const auto& m : old["manifests"])
      if (!(m.is_object() && StringField(m, "digest") == artifact_manifest.ToString()))
        index["manifests"].push_back(m);
  }
  index["manifests"].push_back(
      {{"mediaType", oci::media_type::kOciManifest},
       {"digest", artifact_manifest.ToString()},
       {"size", size},
       {"artifactType", kArtifactType},
       {"annotations", {{std::string(kIndexDigestAnnotation), index_digest.ToString()}}}});
  return index.dump();
}

Result<BlobRef> LatestImgfsReferrer(std::string_view text, size_t max_size) {
  if (text.size() > max_size) return Status::ResourceExhausted("referrers index too large");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("manifests") || !j["manifests"].is_array())
    return Status::InvalidArgument("the referrers index is not an image index");
  const auto& ms = j["manifests"];
  for (size_t i = ms.size(); i-- > 0;) {
    if (!ms[i].is_object() || StringField(ms[i], "artifactType") != kArtifactType) continue;
    return ParseDescriptor(ms[i], "referrer " + std::to_string(i));
  }
  return Status::NotFound("no imgfs artifact among the referrers");
}

}  // namespace imgfs::registry
