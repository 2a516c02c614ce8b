#include "imgfs/registry/registry_pull.h"

#include "imgfs/remote_store.h"

namespace imgfs::registry {
namespace {

// The index's bytes, checked against its digest: from its compressed layer when the artifact
// has one, else (or when that layer does not decode to the index) from the index blob.
Result<std::string> FetchIndexOf(RegistryClient& client, const Artifact& artifact) {
  const remote::IndexForms forms{
      client.Describe(),
      [&](uint64_t max) -> Result<std::string> {
        if (!artifact.compressed_index || artifact.compressed_index->size > max)
          return Status::NotFound("no compressed index");
        return client.GetBlob(artifact.compressed_index->digest, max);
      },
      [&](uint64_t max) { return client.GetBlob(artifact.index.digest, max); },
  };
  // Two fetches: the compressed form, then the blob (again, when there is no compressed form).
  return remote::FetchIndex(forms, artifact.index.digest, kMaxPulledIndex, 2, nullptr);
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
    // The index must say it is of the image its artifact is attached to (FindArtifact checked
    // that attachment): its metadata is what the snapshotter matches pulls against.
    const std::string claimed = SourceManifest((*index)->metadata());
    if (found.artifact.subject && claimed != found.artifact.subject->digest.ToString())
      return Status::Corruption("index " + ix.digest.ToString() + " of " + ref.ToString() +
                                " says it was converted from manifest \"" + claimed.substr(0, 100) +
                                "\", but its artifact is attached to " +
                                found.artifact.subject->digest.ToString());
    out.index = std::move(*index);
  }
  if (found.artifact.trace && found.artifact.trace->size <= kMaxPulledTrace) {
    ASSIGN_OR_RETURN(out.trace, client.GetBlob(found.artifact.trace->digest, kMaxPulledTrace));
  }
  return out;
}

}  // namespace imgfs::registry
