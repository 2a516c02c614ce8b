// Where an image's manifest, config and layer blobs come from. An ImageSource is opened from a
// SOURCE string and has already resolved, read and verified the manifest and config; layers are
// opened one at a time as streams of their (possibly compressed) blob bytes. Plain rootfs
// directories ("dir:PATH") have no layers and are applied directly by ApplyRootfsDirectory.
//
//   oci:DIR[:TAG]           OCI image layout. TAG is matched against the ref.name annotation in
//                           index.json; without it index.json must hold one manifest, or
//                           manifests that differ by platform. Image indexes (nested, multi-
//                           platform) are resolved to the manifest matching `platform`.
//   docker-archive:FILE[:REF]  `docker save` / `podman save` / skopeo tarball: manifest.json,
//                           config and layer tars (plain or compressed), legacy <id>/layer.tar or
//                           blobs/sha256/<hex> layout. REF picks a RepoTags entry when the
//                           archive holds several images. The "manifest digest" of such an image
//                           is the SHA-256 of its manifest.json.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/digest.h"
#include "core/oci_image.h"
#include "core/status.h"
#include "indexer/content_writer.h"
#include "indexer/layer_apply.h"

namespace imgfs::indexer {

struct SourceOptions {
  std::string platform = "linux/amd64";
  uint64_t max_json_size = 8u << 20;
};

struct LayerBlob {
  std::string media_type;        // empty: unknown, compression is sniffed
  std::optional<Digest> digest;  // compressed blob digest to verify, when known
  std::optional<uint64_t> size;  // blob size to verify, when known
  uint64_t stored_size = 0;      // bytes the source holds for the blob (for progress)
  Digest diff_id;                // SHA-256 of the uncompressed tar stream
};

struct ResolvedImage {
  std::string manifest_digest;  // "sha256:<hex>"
  std::string config_json;      // as stored
  oci::Config config;
  std::vector<LayerBlob> layers;  // bottom first; layers.size() == config.diff_ids.size()
};

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual const ResolvedImage& image() const = 0;
  // The blob bytes of layer i. REQUIRES: i < image().layers.size().
  virtual Result<std::unique_ptr<ByteSource>> OpenLayer(size_t i) = 0;
};

// Opens a SOURCE form the indexer does not implement itself (a registry's docker://...).
using SourceOpener = std::function<Result<std::unique_ptr<ImageSource>>(
    std::string_view source, const SourceOptions& options)>;

// Opens "oci:..." or "docker-archive:..." sources. "dir:" is not an ImageSource.
Result<std::unique_ptr<ImageSource>> OpenImageSource(std::string_view source,
                                                     const SourceOptions& options);

Result<std::unique_ptr<ImageSource>> OpenOciLayout(const std::string& dir, const std::string& tag,
                                                   const SourceOptions& options);
Result<std::unique_ptr<ImageSource>> OpenDockerArchive(const std::string& file,
                                                       const std::string& ref,
                                                       const SourceOptions& options);

// Applies a rootfs directory on disk as one layer: lstat walk in sorted name order, xattrs via
// llistxattr/lgetxattr, hardlinks by (st_dev, st_ino). Devices, fifos and sockets are skipped
// with a warning. Does not cross into other directories through symlinks.
Status ApplyRootfsDirectory(const std::string& path, LayerApplier* applier);

// "sha256:0123456789ab" for messages.
std::string ShortDigest(const Digest& d);

}  // namespace imgfs::indexer
