// The "oci:DIR[:TAG]" image source: an OCI image layout on disk.
#include <fcntl.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/fd.h"
#include "indexer/decompress.h"
#include "indexer/image_source.h"

namespace imgfs::indexer {
namespace {

constexpr int kMaxIndexDepth = 4;

class OciLayoutSource : public ImageSource {
 public:
  OciLayoutSource(std::string dir, SourceOptions options)
      : dir_(std::move(dir)), options_(std::move(options)) {}

  Status Open(const std::string& tag);
  const ResolvedImage& image() const override { return image_; }
  Result<std::unique_ptr<ByteSource>> OpenLayer(size_t i) override;

 private:
  std::string BlobPath(const Digest& d) const { return dir_ + "/blobs/sha256/" + d.Hex(); }
  // Reads a small blob (JSON), checking its size and digest against the descriptor.
  Result<std::string> ReadJsonBlob(const oci::Descriptor& desc);
  Result<oci::Descriptor> SelectFromIndex(const oci::Index& index, const std::string& tag,
                                          int depth);
  Result<oci::Descriptor> ResolveToManifest(oci::Descriptor desc, int depth);

  std::string dir_;
  SourceOptions options_;
  oci::Platform wanted_;
  ResolvedImage image_;
};

Result<std::string> OciLayoutSource::ReadJsonBlob(const oci::Descriptor& desc) {
  const std::string what = desc.digest.ToString();
  if (static_cast<uint64_t>(desc.size) > options_.max_json_size) {
    return Status::ResourceExhausted("blob " + what + ": size " + std::to_string(desc.size) +
                                     " exceeds the JSON limit of " +
                                     std::to_string(options_.max_json_size));
  }
  Result<std::string> data = ReadFileToString(BlobPath(desc.digest), options_.max_json_size);
  if (!data.ok()) return data.status().WithContext("blob " + what);
  if (data->size() != static_cast<uint64_t>(desc.size)) {
    return Status::Corruption("blob " + what + ": size " + std::to_string(data->size()) +
                              " does not match the descriptor's " + std::to_string(desc.size));
  }
  if (Sha256(*data) != desc.digest) {
    return Status::Corruption("blob " + what + ": content does not match its digest");
  }
  return data;
}

Result<oci::Descriptor> OciLayoutSource::SelectFromIndex(const oci::Index& index,
                                                         const std::string& tag, int depth) {
  std::vector<const oci::Descriptor*> candidates;
  for (const oci::Descriptor& d : index.manifests) {
    if (!tag.empty()) {
      auto it = d.annotations.find(std::string(oci::kRefNameAnnotation));
      if (it == d.annotations.end() || it->second != tag) continue;
    }
    candidates.push_back(&d);
  }
  if (candidates.empty()) {
    if (!tag.empty()) return Status::NotFound("tag \"" + tag + "\" not found in index.json");
    return Status::NotFound("image index lists no manifests");
  }
  if (candidates.size() == 1) return *candidates[0];
  std::vector<const oci::Descriptor*> matching;
  for (const oci::Descriptor* d : candidates) {
    if (d->platform && d->platform->Matches(wanted_)) matching.push_back(d);
  }
  if (matching.empty() && tag.empty() && depth == 0 &&
      std::none_of(candidates.begin(), candidates.end(), [](auto* d) { return d->platform; })) {
    return Status::InvalidArgument("index.json lists " + std::to_string(candidates.size()) +
                                   " manifests; name one with oci:DIR:TAG");
  }
  if (matching.empty()) {
    return Status::NotFound("no manifest for platform " + wanted_.ToString() + " among " +
                            std::to_string(candidates.size()));
  }
  // containerd takes the first match; a more specific variant match wins over a generic one.
  for (const oci::Descriptor* d : matching) {
    if (d->platform->variant == wanted_.variant) return *d;
  }
  return *matching[0];
}

Result<oci::Descriptor> OciLayoutSource::ResolveToManifest(oci::Descriptor desc, int depth) {
  while (oci::IsIndexMediaType(desc.media_type)) {
    if (++depth > kMaxIndexDepth) return Status::InvalidArgument("image indexes nested too deeply");
    ASSIGN_OR_RETURN(std::string json, ReadJsonBlob(desc));
    Result<oci::Index> index = oci::ParseIndex(json, options_.max_json_size);
    if (!index.ok()) return index.status().WithContext("blob " + ShortDigest(desc.digest));
    ASSIGN_OR_RETURN(desc, SelectFromIndex(*index, "", depth));
  }
  if (!oci::IsManifestMediaType(desc.media_type)) {
    return Status::InvalidArgument("descriptor " + ShortDigest(desc.digest) +
                                   " has unsupported media type \"" + desc.media_type + "\"");
  }
  return desc;
}

Status OciLayoutSource::Open(const std::string& tag) {
  ASSIGN_OR_RETURN(wanted_, oci::Platform::Parse(options_.platform));
  Result<std::string> layout = ReadFileToString(dir_ + "/oci-layout", options_.max_json_size);
  if (layout.ok()) {
    auto j = nlohmann::json::parse(*layout, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("imageLayoutVersion")) {
      return Status::InvalidArgument(dir_ + "/oci-layout: malformed");
    }
  }
  Result<std::string> index_json = ReadFileToString(dir_ + "/index.json", options_.max_json_size);
  if (!index_json.ok()) return index_json.status().WithContext("OCI layout " + dir_);
  Result<oci::Index> index = oci::ParseIndex(*index_json, options_.max_json_size);
  if (!index.ok()) return index.status().WithContext(dir_ + "/index.json");
  ASSIGN_OR_RETURN(oci::Descriptor top, SelectFromIndex(*index, tag, 0));
  ASSIGN_OR_RETURN(oci::Descriptor man_desc, ResolveToManifest(std::move(top), 0));

  ASSIGN_OR_RETURN(std::string man_json, ReadJsonBlob(man_desc));
  Result<oci::Manifest> manifest = oci::ParseManifest(man_json, options_.max_json_size);
  if (!manifest.ok())
    return manifest.status().WithContext("manifest " + ShortDigest(man_desc.digest));
  image_.manifest_digest = man_desc.digest.ToString();
  ASSIGN_OR_RETURN(image_.config_json, ReadJsonBlob(manifest->config));
  Result<oci::Config> config = oci::ParseConfig(image_.config_json, options_.max_json_size);
  if (!config.ok())
    return config.status().WithContext("config " + ShortDigest(manifest->config.digest));
  image_.config = std::move(*config);
  if (image_.config.diff_ids.size() != manifest->layers.size()) {
    return Status::InvalidArgument("manifest lists " + std::to_string(manifest->layers.size()) +
                                   " layers but the config has " +
                                   std::to_string(image_.config.diff_ids.size()) + " diff_ids");
  }
  for (size_t i = 0; i < manifest->layers.size(); ++i) {
    const oci::Descriptor& d = manifest->layers[i];
    Result<oci::Compression> c = oci::LayerCompression(d.media_type);
    if (!c.ok()) return c.status().WithContext("layer " + ShortDigest(d.digest));
    LayerBlob blob;
    blob.media_type = d.media_type;
    blob.digest = d.digest;
    blob.size = static_cast<uint64_t>(d.size);
    blob.stored_size = static_cast<uint64_t>(d.size);
    blob.diff_id = image_.config.diff_ids[i];
    image_.layers.push_back(std::move(blob));
  }
  return Status::Ok();
}

Result<std::unique_ptr<ByteSource>> OciLayoutSource::OpenLayer(size_t i) {
  const LayerBlob& blob = image_.layers[i];
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(BlobPath(*blob.digest), O_RDONLY));
  auto shared = std::make_shared<const UniqueFd>(std::move(fd));
  // One byte past the descriptor's size, so an over-long blob is noticed.
  return std::unique_ptr<ByteSource>(std::make_unique<FdRangeSource>(shared, 0, *blob.size + 1));
}

}  // namespace

Result<std::unique_ptr<ImageSource>> OpenOciLayout(const std::string& dir, const std::string& tag,
                                                   const SourceOptions& options) {
  auto source = std::make_unique<OciLayoutSource>(dir, options);
  RETURN_IF_ERROR(source->Open(tag));
  return std::unique_ptr<ImageSource>(std::move(source));
}

}  // namespace imgfs::indexer
