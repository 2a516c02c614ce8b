#include "imgfs/snapshotter/remote_unpack.h"

#include <unistd.h>

namespace imgfs::snapshotter {

Result<std::string> UnpackRemote(SnapshotsClient& client, const CatalogImage& image,
                                 const Labels& extra_labels) {
  std::string parent;
  for (size_t k = 0; k < image.chain_ids.size(); ++k) {
    const std::string& chain = image.chain_ids[k];
    Labels labels = extra_labels;
    labels[kSnapshotRefLabel] = chain;
    if (!image.manifest_digest.empty()) labels[kImgfsManifestLabel] = image.manifest_digest;
    labels[kImgfsIndexLabel] = image.index;
    // containerd's unpack key format: "extract-UNIQUE CHAINID".
    const std::string key =
        "extract-imgfs-" + std::to_string(::getpid()) + "-" + std::to_string(k) + " " + chain;
    Status prepared = client.Prepare(key, parent, labels);
    if (prepared.ok()) {
      (void)client.Remove(key);
      return Status::InvalidArgument("layer " + std::to_string(k + 1) + " (" + chain +
                                     ") is not served lazily: is the snapshotter imgfs, and is "
                                     "image " +
                                     image.index + " in its store?");
    }
    if (prepared.code() != Code::kAlreadyExists) return prepared;
    parent = chain;
  }
  ASSIGN_OR_RETURN(SnapshotInfo top, client.Stat(parent));
  if (top.kind != Kind::kCommitted)
    return Status::Internal("snapshot " + parent + " exists but is not committed");
  return parent;
}

}  // namespace imgfs::snapshotter
