#include "imgfs/registry/registry_pull.h"

namespace imgfs::registry {

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
    ASSIGN_OR_RETURN(std::string bytes, client.GetBlob(ix.digest, kMaxPulledIndex));
    Result<std::shared_ptr<const ImageIndex>> index = ImageIndex::Parse(std::move(bytes));
    if (!index.ok()) return index.status().WithContext("index " + ix.digest.ToString());
    out.index = std::move(*index);
  }
  if (found.artifact.trace && found.artifact.trace->size <= kMaxPulledTrace) {
    ASSIGN_OR_RETURN(out.trace, client.GetBlob(found.artifact.trace->digest, kMaxPulledTrace));
  }
  return out;
}

}  // namespace imgfs::registry
