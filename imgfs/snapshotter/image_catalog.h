// Which layers imgfs can serve lazily: the answer to a Prepare that carries containerd's
// "containerd.io/snapshot.ref" label (the chain ID of the layer being unpacked).
//
// An imgfs index records the image config it was converted from (its rootfs.diff_ids, hence
// every chain ID of the image) and the source manifest digest. A layer is remote when an image
// known to the catalog has that chain ID, the image is vouched for (below), and either
//   - it is the image's whole chain (its top layer: whatever the lower snapshots hold, the lazy
//     mount is the complete image), or
//   - the pull names the image's manifest in a label ("containerd.io/snapshot/cri.manifest-digest",
//     which containerd's CRI plugin passes, or "containerd.io/snapshot/imgfs.manifest-digest"):
//     then every layer of exactly that image is remote, so nothing is downloaded. A prefix of
//     some other image is never claimed (its layers above would have no lower content).
// Vouched for: an image converted into this store (the conversion checked its layers against the
// config's diff_ids, so its chain IDs are true of its files) for any pull; a fetched one (its
// metadata is whoever published the artifact's claim) only for the pull it is: the labels name
// its index digest with "imgfs.index" (`imgfs snapshotter unpack`), or CRI's image reference and
// manifest labels name the reference it was pulled as and the manifest its metadata names. So an
// artifact that one workload's image pulled into the shared store, claiming the chain IDs of
// another image, never serves that other image's pulls. (What this cannot stop: an image whose
// own config lies about its diff_ids, pulled lazily, defines those chain IDs' snapshots in its
// containerd namespace for every later pull there, as with any remote snapshotter:
// docs/snapshotter.md.)
// The images known: the store's named images (`imgfs pull docker://...` or `imgfs convert`),
// and, when the labels carry "containerd.io/snapshot/cri.image-ref", the imgfs artifact of that
// reference in its registry (found as `imgfs pull` finds it). With a puller (the CLI's: the
// store's daemon's POST /pull) the index and trace are pulled into the store under that
// reference, so the mount that follows reads them locally; without one, or when it fails for
// another reason than an unreachable registry or a missing artifact, the catalog reads the
// artifact itself and the daemon fetches the index again by digest when it mounts. A registry that
// cannot be reached is an error (Unavailable); any other failure there (credentials, no or a
// malformed artifact) means "not an imgfs image".
//
// Everything read from a registry or an index is untrusted; errors are Statuses. Thread-safe
// (StoreCatalog serializes its calls).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "imgfs/registry/registry_client.h"
#include "imgfs/snapshotter/snapshot_table.h"

namespace imgfs::snapshotter {

inline constexpr char kSnapshotRefLabel[] = "containerd.io/snapshot.ref";
inline constexpr char kCriImageRefLabel[] = "containerd.io/snapshot/cri.image-ref";
inline constexpr char kCriManifestLabel[] = "containerd.io/snapshot/cri.manifest-digest";
inline constexpr char kImgfsManifestLabel[] = "containerd.io/snapshot/imgfs.manifest-digest";
// The index digest of the image a Prepare is for, as `imgfs snapshotter unpack` names it.
inline constexpr char kImgfsIndexLabel[] = "containerd.io/snapshot/imgfs.index";

struct CatalogImage {
  std::string index;            // index digest
  std::string remote;           // remote store URL ("" when the store holds every chunk)
  std::string manifest_digest;  // the source image manifest ("" when unknown)
  std::vector<std::string> chain_ids;
  bool converted_here = false;  // converted into the store (else fetched: see above)
  std::string pulled_as;        // a fetched image's registry reference, "docker://..." ("" if none)
};

// The matching rule above over IMAGES. Pure.
std::optional<RemoteLayer> MatchLayer(const std::vector<CatalogImage>& images,
                                      const std::string& chain_id, const Labels& labels);

// What an index's metadata says: its chain IDs and source manifest (empty when the index
// records no config, e.g. one converted from a directory).
[[nodiscard]] Result<CatalogImage> CatalogImageFromMetadata(std::string_view metadata_json);

// The image NAME (a ref name or index digest) of the store at STORE_PATH, opened read-only (what
// `imgfs snapshotter unpack` registers: it names the index in its labels).
[[nodiscard]] Result<CatalogImage> LoadStoreImage(const std::string& store_path,
                                                  const std::string& name);

class ImageCatalog {
 public:
  virtual ~ImageCatalog() = default;
  // The imgfs image layer that the snapshot CHAIN_ID of a pull with LABELS is, if any.
  [[nodiscard]] virtual Result<std::optional<RemoteLayer>> Find(const std::string& chain_id,
                                                                const Labels& labels) = 0;
};

// The catalog of a store (opened read-only at each look-up, beside its daemon) and of the
// registries named by CRI labels.
// Pulls the imgfs artifact of IMAGE (docker://...) into the store, named IMAGE, with OPTIONS'
// plain-http and tls-verify; returns its index digest and the index's metadata. NotFound: IMAGE
// has no imgfs artifact.
struct PulledIndex {
  std::string digest;
  std::string metadata;
};
using RegistryPuller =
    std::function<Result<PulledIndex>(const std::string& image, const registry::ClientOptions&)>;

class StoreCatalog : public ImageCatalog {
 public:
  // REGISTRY: how registries are reached (--plain-http, credentials...); DEFAULT_REMOTE: the
  // remote of images the store names without a registry reference (the configured `remote`);
  // PULLER: may be null. LAZY_REGISTRIES: where CRI pulls may be served from imgfs artifacts
  // (`snapshotter.registries`: "HOST[:PORT]" or "HOST[:PORT]/REPO" prefixes); empty: any.
  StoreCatalog(std::string store_path, registry::ClientOptions registry, std::string default_remote,
               RegistryPuller puller = nullptr, std::vector<std::string> lazy_registries = {});
  Result<std::optional<RemoteLayer>> Find(const std::string& chain_id,
                                          const Labels& labels) override;

 private:
  Result<std::vector<CatalogImage>> StoreImages();
  // Whether REFERENCE ("docker://HOST/REPO:TAG") is under one of lazy_registries_.
  bool LazyFrom(const std::string& reference) const;
  Result<std::optional<CatalogImage>> RegistryImage(const std::string& image_ref);

  const std::string store_path_;
  const registry::ClientOptions registry_;
  const std::string default_remote_;
  const RegistryPuller puller_;
  const std::vector<std::string> lazy_registries_;
  std::mutex mu_;
  // By index digest (an index never changes); by CRI image reference + manifest digest.
  std::map<std::string, CatalogImage> parsed_;                        // GUARDED_BY(mu_)
  std::map<std::string, std::optional<CatalogImage>> from_registry_;  // GUARDED_BY(mu_)
};

}  // namespace imgfs::snapshotter
