// What containerd's unpacker does for a remote snapshotter, for an imgfs image: Prepare each
// layer through the snapshots API with the labels that make the snapshotter answer "already
// exists" (containerd.io/snapshot.ref = the layer's chain ID, and the image's manifest digest),
// so containerd records every layer as a committed snapshot and nothing is downloaded. Then an
// image record whose config has those diff IDs (e.g. `ctr images import` of its manifest and
// config) is already unpacked. Thread-compatible.
#pragma once

#include <string>

#include "core/status.h"
#include "imgfs/snapshotter/grpc_client.h"
#include "imgfs/snapshotter/image_catalog.h"

namespace imgfs::snapshotter {

// Returns the chain ID of the whole image. A layer the snapshotter unpacks as an ordinary
// snapshot (it does not serve the image lazily) is removed again and the call fails
// (InvalidArgument); a failed Prepare fails with its status.
[[nodiscard]] Result<std::string> UnpackRemote(SnapshotsClient& client, const CatalogImage& image,
                                               const Labels& extra_labels);

}  // namespace imgfs::snapshotter
