// The imgfs artifact: how an image index, its access trace and its packs live in an OCI
// registry (docs/remote-store.md, "In an OCI registry"). It is an OCI 1.1 artifact, an image
// manifest with
//   artifactType  application/vnd.imgfs.image.v1
//   config        the empty descriptor (application/vnd.oci.empty.v1+json, "{}")
//   layers        the index (application/vnd.imgfs.index.v1), then the index as one zstd frame
//                 (application/vnd.imgfs.index.v1+zstd, what readers fetch first; artifacts of
//                 older pushes lack it), then the trace if there is one
//                 (application/vnd.imgfs.trace.v1), then every pack (application/vnd.imgfs.pack.v1)
//   subject       the image manifest the index was converted from, when the registry holds it
//   annotations   dev.imgfs.index.digest = the index digest
// It is tagged imgfs-<index hex> (how a remote store finds an index's trace), and listed in
// the referrers tag fallback sha256-<subject hex> (an OCI image index of the artifacts that
// refer to that manifest) for registries without the referrers API.
//
// Everything parsed here comes from a registry: malformed input is a Status. Pure functions;
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/digest.h"
#include "core/status.h"

namespace imgfs::registry {

inline constexpr std::string_view kArtifactType = "application/vnd.imgfs.image.v1";
inline constexpr std::string_view kIndexLayerType = "application/vnd.imgfs.index.v1";
inline constexpr std::string_view kCompressedIndexLayerType = "application/vnd.imgfs.index.v1+zstd";
inline constexpr std::string_view kTraceLayerType = "application/vnd.imgfs.trace.v1";
inline constexpr std::string_view kPackLayerType = "application/vnd.imgfs.pack.v1";
inline constexpr std::string_view kEmptyConfigType = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kEmptyConfig = "{}";
inline constexpr std::string_view kIndexDigestAnnotation = "dev.imgfs.index.digest";

struct BlobRef {
  std::string media_type;
  Digest digest;
  uint64_t size = 0;
};

struct Artifact {
  BlobRef index;
  std::optional<BlobRef> compressed_index;
  std::optional<BlobRef> trace;
  std::vector<BlobRef> packs;
  std::optional<BlobRef> subject;  // an image manifest
};

// The manifest JSON (deterministic: the same artifact gives the same bytes).
std::string BuildArtifactManifest(const Artifact& artifact);
// NotFound when `json` is a valid manifest but not an imgfs artifact; InvalidArgument when
// malformed.
Result<Artifact> ParseArtifactManifest(std::string_view json, size_t max_size);

// The image manifest an index's metadata says the index was converted from ("" when it names
// none): what an artifact's subject is.
std::string SourceManifest(std::string_view index_metadata);

std::string ReferrersTag(const Digest& subject);  // "sha256-<hex>"
std::string IndexTag(const Digest& index);        // "imgfs-<hex>"

// The referrers fallback index with `artifact_manifest` (an imgfs artifact of `size` bytes)
// added last; any earlier entry with its digest is dropped, other entries are kept as they are.
// `existing` empty: a new index.
Result<std::string> AddReferrer(std::optional<std::string_view> existing,
                                const Digest& artifact_manifest, uint64_t size,
                                const Digest& index_digest);
// The imgfs artifact listed last in a referrers index (the newest push); NotFound if none.
Result<BlobRef> LatestImgfsReferrer(std::string_view referrers_index, size_t max_size);

}  // namespace imgfs::registry
