#include "imgfs/snapshotter/image_catalog.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "imgfs/local_store.h"
#include "imgfs/registry/reference.h"
#include "imgfs/registry/registry_pull.h"
#include "imgfs/registry/registry_remote.h"
#include "imgfs/snapshotter/chain_id.h"

namespace imgfs::snapshotter {

namespace {

std::string Label(const Labels& labels, const std::string& key) {
  auto it = labels.find(key);
  return it == labels.end() ? "" : it->second;
}

// A registry reference as the store names a pulled image ("docker://HOST/REPO:TAG"), from
// CRI's label (HOST/REPO:TAG); "" when the label is not one.
std::string CriReference(const Labels& labels) {
  const std::string label = Label(labels, kCriImageRefLabel);
  if (label.empty()) return "";
  Result<registry::Reference> ref = registry::ParseReference("docker://" + label);
  return ref.ok() ? ref->ToString() : "";
}

// Whether LABELS name IMAGE's index (`imgfs snapshotter unpack` of it).
bool NamesIndex(const CatalogImage& image, const Labels& labels) {
  return !image.index.empty() && Label(labels, kImgfsIndexLabel) == image.index;
}

// Whether the pull with LABELS may take IMAGE's word for its chain IDs (image_catalog.h).
bool Vouched(const CatalogImage& image, const Labels& labels) {
  if (image.converted_here || NamesIndex(image, labels)) return true;
  return !image.pulled_as.empty() && !image.manifest_digest.empty() &&
         Label(labels, kCriManifestLabel) == image.manifest_digest &&
         CriReference(labels) == image.pulled_as;
}

}  // namespace

std::optional<RemoteLayer> MatchLayer(const std::vector<CatalogImage>& images,
                                      const std::string& chain_id, const Labels& labels) {
  std::string manifest = Label(labels, kImgfsManifestLabel);
  if (manifest.empty()) manifest = Label(labels, kCriManifestLabel);
  for (const CatalogImage& image : images) {
    if (!Vouched(image, labels)) continue;
    const size_t n = image.chain_ids.size();
    for (size_t k = 0; k < n; ++k) {
      if (image.chain_ids[k] != chain_id) continue;
      const bool whole = k + 1 == n;
      const bool this_image =
          (!manifest.empty() && manifest == image.manifest_digest) || NamesIndex(image, labels);
      if (whole || this_image)
        return RemoteLayer{image.index, image.remote, static_cast<uint32_t>(k + 1),
                           static_cast<uint32_t>(n)};
    }
  }
  return std::nullopt;
}

Result<CatalogImage> CatalogImageFromMetadata(std::string_view metadata_json) {
  CatalogImage image;
  nlohmann::json m = nlohmann::json::parse(metadata_json, nullptr, false);
  if (m.is_discarded() || !m.is_object()) return Status::Corruption("index metadata is not JSON");
  if (m.contains("manifest_digest") && m["manifest_digest"].is_string())
    image.manifest_digest = m["manifest_digest"].get<std::string>();
  const nlohmann::json* diff_ids = nullptr;
  if (m.contains("config") && m["config"].is_object()) {
    const nlohmann::json& config = m["config"];
    if (config.contains("rootfs") && config["rootfs"].is_object() &&
        config["rootfs"].contains("diff_ids") && config["rootfs"]["diff_ids"].is_array())
      diff_ids = &config["rootfs"]["diff_ids"];
  }
  if (!diff_ids) return image;
  std::vector<std::string> ids;
  for (const auto& d : *diff_ids) {
    if (!d.is_string()) return Status::Corruption("a diff ID that is not a string");
    ids.push_back(d.get<std::string>());
  }
  ASSIGN_OR_RETURN(image.chain_ids, ChainIds(ids));
  return image;
}

Result<CatalogImage> LoadStoreImage(const std::string& store_path, const std::string& name) {
  ASSIGN_OR_RETURN(auto store, store::LocalStore::Open(store_path, /*read_only=*/true));
  ASSIGN_OR_RETURN(Digest digest, store->Resolve(name));
  ASSIGN_OR_RETURN(std::shared_ptr<const ImageIndex> index, store->GetIndex(digest));
  ASSIGN_OR_RETURN(CatalogImage image, CatalogImageFromMetadata(index->metadata()));
  image.index = digest.ToString();
  if (image.chain_ids.empty())
    return Status::InvalidArgument("image " + name + " records no layers (diff IDs)");
  return image;
}

StoreCatalog::StoreCatalog(std::string store_path, registry::ClientOptions registry,
                           std::string default_remote, RegistryPuller puller,
                           std::vector<std::string> lazy_registries)
    : store_path_(std::move(store_path)),
      registry_(std::move(registry)),
      default_remote_(std::move(default_remote)),
      puller_(std::move(puller)),
      lazy_registries_(std::move(lazy_registries)) {}

bool StoreCatalog::LazyFrom(const std::string& reference) const {
  if (lazy_registries_.empty()) return true;
  const std::string_view ref = std::string_view(reference).substr(
      reference.starts_with(registry::kDockerScheme) ? registry::kDockerScheme.size() : 0);
  for (const std::string& prefix : lazy_registries_) {
    if (!ref.starts_with(prefix)) continue;
    // A whole host or repository: "reg.example" is not "reg.example.evil", nor "org/a" "org/ab".
    if (ref.size() == prefix.size() ||
        std::string_view("/:@").find(ref[prefix.size()]) != std::string_view::npos)
      return true;
  }
  return false;
}

Result<std::vector<CatalogImage>> StoreCatalog::StoreImages() {
  struct stat st;
  if (::stat((store_path_ + "/CURRENT").c_str(), &st) != 0) return std::vector<CatalogImage>{};
  ASSIGN_OR_RETURN(auto store, store::LocalStore::Open(store_path_, /*read_only=*/true));
  ASSIGN_OR_RETURN(std::vector<store::ImageRef> refs, store->ListRefs());
  std::vector<CatalogImage> images;
  for (const store::ImageRef& ref : refs) {
    const std::string index = ref.index_digest.ToString();
    auto cached = parsed_.find(index);
    if (cached == parsed_.end()) {
      Result<std::shared_ptr<const ImageIndex>> loaded = store->GetIndex(ref.index_digest);
      if (!loaded.ok()) {
        IMGFS_LOG(Warning) << "image " << ref.name << ": " << loaded.status().message();
        continue;
      }
      Result<CatalogImage> image = CatalogImageFromMetadata((*loaded)->metadata());
      if (!image.ok()) {
        IMGFS_LOG(Warning) << "image " << ref.name << ": " << image.status().message();
        continue;
      }
      image->index = index;
      cached = parsed_.emplace(index, std::move(*image)).first;
    }
    CatalogImage image = cached->second;
    // Asked each time: an index fetched first may be converted here later.
    Result<bool> converted = store->ConvertedHere(ref.index_digest);
    if (!converted.ok()) {
      IMGFS_LOG(Warning) << "image " << ref.name << ": " << converted.status().message();
      continue;
    }
    image.converted_here = *converted;
    // A pulled image is named after its registry reference: its packs are read from there.
    image.remote = default_remote_;
    if (registry::IsRegistryReference(ref.name)) {
      Result<registry::Reference> parsed = registry::ParseReference(ref.name);
      if (parsed.ok()) {
        image.remote = registry::RegistryRemoteUrl(*parsed, registry_);
        // Outside the configured registries, a fetched image answers no CRI pull.
        if (LazyFrom(parsed->ToString())) image.pulled_as = parsed->ToString();
      }
    }
    if (!image.chain_ids.empty()) images.push_back(std::move(image));
  }
  return images;
}

Result<std::optional<CatalogImage>> StoreCatalog::RegistryImage(const std::string& image_ref) {
  ASSIGN_OR_RETURN(registry::Reference ref, registry::ParseReference("docker://" + image_ref));
  if (puller_) {
    Result<PulledIndex> pulled = puller_(ref.ToString(), registry_);
    Status failed = pulled.status();
    if (pulled.ok()) {
      Result<CatalogImage> image = CatalogImageFromMetadata(pulled->metadata);
      if (image.ok() && !image->chain_ids.empty()) {
        image->index = pulled->digest;
        image->remote = registry::RegistryRemoteUrl(ref, registry_);
        image->pulled_as = ref.ToString();
        return std::optional<CatalogImage>(std::move(*image));
      }
      failed = image.ok() ? Status::InvalidArgument("the index records no layers") : image.status();
    }
    if (failed.code() == Code::kNotFound) return std::optional<CatalogImage>();
    if (failed.code() == Code::kUnavailable) return failed.WithContext(image_ref);
    IMGFS_LOG(Info) << "pulling " << image_ref
                    << " through the store's daemon: " << failed.message()
                    << "; reading its artifact here";
  }
  Result<std::unique_ptr<registry::RegistryClient>> client =
      registry::RegistryClient::Open(ref.host, ref.repository, registry_);
  if (!client.ok()) return client.status().WithContext(image_ref);
  Result<registry::PulledImage> pulled =
      registry::PullFromRegistry(**client, ref, "linux/amd64", /*with_index=*/true);
  if (!pulled.ok()) {
    if (pulled.status().code() == Code::kNotFound) return std::optional<CatalogImage>();
    return pulled.status().WithContext("the imgfs artifact of " + image_ref);
  }
  ASSIGN_OR_RETURN(CatalogImage image, CatalogImageFromMetadata(pulled->index->metadata()));
  image.index = pulled->index_digest.ToString();
  image.remote = registry::RegistryRemoteUrl(ref, registry_);
  image.pulled_as = ref.ToString();
  return std::optional<CatalogImage>(std::move(image));
}

Result<std::optional<RemoteLayer>> StoreCatalog::Find(const std::string& chain_id,
                                                      const Labels& labels) {
  std::lock_guard lock(mu_);
  const std::string image_ref = Label(labels, kCriImageRefLabel);
  const std::string key = image_ref + "@" + Label(labels, kCriManifestLabel);
  auto cached = from_registry_.find(key);
  // The layers of a CRI pull after its first: the image is known (no store to open).
  if (!image_ref.empty() && cached != from_registry_.end() && cached->second)
    if (std::optional<RemoteLayer> found = MatchLayer({*cached->second}, chain_id, labels))
      return found;
  ASSIGN_OR_RETURN(std::vector<CatalogImage> images, StoreImages());
  if (std::optional<RemoteLayer> found = MatchLayer(images, chain_id, labels)) return found;
  if (image_ref.empty()) return std::optional<RemoteLayer>();
  if (cached == from_registry_.end()) {
    if (const std::string ref = CriReference(labels); !ref.empty() && !LazyFrom(ref)) {
      IMGFS_LOG(Info) << "unpacking " << image_ref
                      << " without imgfs: its registry is not in snapshotter.registries";
      from_registry_.emplace(key, std::nullopt);
      return std::optional<RemoteLayer>();
    }
    Result<std::optional<CatalogImage>> image = RegistryImage(image_ref);
    // A registry that cannot be reached fails the Prepare (the caller may retry); any other
    // failure (credentials, a malformed artifact) leaves the image to be unpacked as usual.
    if (!image.ok() && image.status().code() == Code::kUnavailable) return image.status();
    if (!image.ok()) {
      IMGFS_LOG(Warning) << image.status().message() << "; unpacking " << image_ref
                         << " without imgfs";
      image = std::optional<CatalogImage>();
    }
    cached = from_registry_.emplace(key, std::move(*image)).first;
  }
  if (!cached->second) return std::optional<RemoteLayer>();
  return MatchLayer({*cached->second}, chain_id, labels);
}

}  // namespace imgfs::snapshotter
