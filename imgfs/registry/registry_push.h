// `imgfs push IMAGE docker://HOST/REPO[:TAG]`: an image index, its packs and its trace into a
// registry repository as an imgfs artifact (artifact.h, docs/remote-store.md).
//
// Order: packs (present ones skipped by HEAD; each rebuilt from local chunks and verified first,
// imgfs/push.h; large ones in PATCH chunks), the index, the trace, the empty config, then the
// artifact manifest under imgfs-<index hex>. The subject is the image manifest the index was
// converted from (its metadata's manifest_digest) when the repository holds it; the artifact is
// then added to the referrers tag sha256-<subject hex>. TAG: left alone when it names the
// subject (or an index over it: it is the image's tag), set to the artifact when it is free or
// holds an older imgfs artifact, refused (AlreadyExists) when it holds another image.
// Thread-compatible: one push per call.
#pragma once

#include <optional>
#include <string>

#include "core/chunk_store.h"
#include "core/image_index.h"
#include "imgfs/push.h"
#include "imgfs/registry/registry_client.h"

namespace imgfs::registry {

struct RegistryPushResult {
  remote::PushStats stats;
  Digest artifact;                // the artifact manifest's digest
  std::optional<Digest> subject;  // when linked to an image manifest
  bool tagged = false;            // TAG now names the artifact
  uint64_t blobs_mounted = 0;     // packs (counted as uploaded) and index mounted from mount_from
};

// `mount_from`: a repository of the same registry whose blobs are mounted rather than uploaded
// when it has them (empty: none).
Result<RegistryPushResult> PushToRegistry(const ImageIndex& index, ChunkSource& local,
                                          const Reference& dest, ClientOptions options,
                                          const std::string* trace_or_null,
                                          const std::string& mount_from = "");

}  // namespace imgfs::registry
