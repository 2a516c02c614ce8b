// OCI image-spec documents (descriptor, image manifest, image index, the image-config subset this
// project needs), parsed from JSON with validation. Docker's v2 schema 2 media types are accepted
// alongside the OCI ones since registries and `docker save` still produce them.
//
// Parsing never throws; malformed or over-large input is a Status. Value types, thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/digest.h"
#include "core/status.h"

namespace imgfs::oci {

namespace media_type {
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kOciLayerNdTar =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
inline constexpr std::string_view kOciLayerNdGzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr std::string_view kOciLayerNdZstd =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerLayerForeignGzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
inline constexpr std::string_view kDockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar";
}  // namespace media_type

// How a layer blob is compressed, from its media type or its first bytes.
enum class Compression { kNone, kGzip, kZstd };

// Maps a layer media type to its compression; NotFound-free: an unknown type is InvalidArgument.
Result<Compression> LayerCompression(std::string_view media_type);
bool IsIndexMediaType(std::string_view media_type);
bool IsManifestMediaType(std::string_view media_type);

// "os/arch[/variant]". Matching follows containerd: "arm64" without a variant matches "v8".
struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;

  static Result<Platform> Parse(std::string_view text);  // "linux/amd64", "linux/arm/v7"
  bool Matches(const Platform& wanted) const;
  std::string ToString() const;
};

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;  // >= 0
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
};

struct Index {
  std::string media_type;  // may be empty (optional in OCI)
  std::vector<Descriptor> manifests;
};

struct Manifest {
  std::string media_type;
  Descriptor config;
  std::vector<Descriptor> layers;
};

// The part of the image config (OCI "application/vnd.oci.image.config.v1+json") layer
// application needs. The full JSON bytes are kept by callers as stored.
struct Config {
  Platform platform;
  std::vector<Digest> diff_ids;  // rootfs.diff_ids, one per layer, uncompressed tar digests
};

// Each parser rejects input over max_size bytes, invalid JSON, wrong JSON types, digests that are
// not sha256, negative sizes and missing required fields.
Result<Index> ParseIndex(std::string_view json, size_t max_size);
Result<Manifest> ParseManifest(std::string_view json, size_t max_size);
Result<Config> ParseConfig(std::string_view json, size_t max_size);

// The annotation OCI layouts use to tag manifests in index.json.
inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";

}  // namespace imgfs::oci
