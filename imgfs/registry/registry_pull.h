// `imgfs pull docker://...` and `imgfs mount docker://...`: find the imgfs artifact of an image
// reference (registry_remote.h FindArtifact) and fetch its index and trace, never its packs
// (those are read lazily as blobs, with Range requests, by a mount whose remote is the
// repository). The index is verified against its digest and parsed; the trace is a hint and is
// only size-limited. Thread-compatible.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/image_index.h"
#include "imgfs/registry/registry_remote.h"

namespace imgfs::registry {

inline constexpr uint64_t kMaxPulledIndex = 1ull << 30;
inline constexpr uint64_t kMaxPulledTrace = 64u << 20;

struct PulledImage {
  Digest index_digest;
  std::shared_ptr<const ImageIndex> index;  // null when not asked for
  std::optional<std::string> trace;
  Digest artifact;  // the artifact manifest it came from
};

Result<PulledImage> PullFromRegistry(RegistryClient& client, const Reference& ref,
                                     const std::string& platform, bool with_index = true);

}  // namespace imgfs::registry
