#include "imgfs/registry/registry_pull.h"

#include "core/zstd_frame.h"

namespace imgfs::registry {
namespace {

// The index's bytes, checked against its digest: from its compressed layer when the artifact
// has one that decodes to them, else from the index blob (GetBlob checks each blob's digest).
Result<std::string> FetchIndexOf(RegistryClient& client, const Artifact& artifact) {
  const BlobRef& ix = artifact.index;
  if (artifact.compressed_index && artifact.compressed_index->size <= kMaxPulledIndex) {
    Result<std::string> frame = client.GetBlob(artifact.compressed_index->digest, kMaxPulledIndex);
    if (frame.ok()) {
      Result<std::string> bytes = DecompressFrame(*frame, kMaxPulledIndex);
      if (bytes.ok() && Sha256(*bytes) == ix.digest) return bytes;
    } else if (frame.status().code() != Code::kNotFound &&
               frame.status().code() != Code::kCorruption) {
      return frame.status();
    }
  }
  return client.GetBlob(ix.digest, kMaxPulledIndex);
}

}  // namespace

Result<PulledImage> PullFromRegistry(RegistryClient& client, const Reference& ref,
                                     const std::string& platform, bool with_index) {
  ASSIGN_OR_RETURN(FoundArtifact found, FindArtifact(client, ref, platform));
  PulledImage out;
  out.artifact = found.manifest_digest;
  out.index_digest = found.artifact.index.digest;
  const BlobRef& ix = found.artifact.index;
  if (ix.size > kMaxPulledIndex)
    return Status::ResourceExhausted("index " + ix.digest.ToString() + " of " + ref.ToString() +
                                     " is " + std::to_string(ix.size) + " bytes");
  if (with_index) {
    ASSIGN_OR_RETURN(std::string bytes, FetchIndexOf(client, found.artifact));
    Result<std::shared_ptr<const ImageIndex>> index =
        ImageIndex::Parse(std::move(bytes), ix.digest);  // checked by FetchIndexOf
    if (!index.ok()) return index.status().WithContext("index " + ix.digest.ToString());
    out.index = std::move(*index);
  }
  if (found.artifact.trace && found.artifact.trace->size <= kMaxPulledTrace) {
    ASSIGN_OR_RETURN(out.trace, client.GetBlob(found.artifact.trace->digest, kMaxPulledTrace));
  }
  return out;
}

}  // namespace imgfs::registry
