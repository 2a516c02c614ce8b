// Chain IDs (OCI image spec, config.md "Layer ChainID"): the name containerd gives the snapshot
// of an image's first N layers. ChainID(L0) = DiffID(L0); ChainID(L0..Ln) =
// SHA256(ChainID(L0..Ln-1) + " " + DiffID(Ln)). Pure; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace imgfs::snapshotter {

// The chain ID of every prefix of DIFF_IDS ("sha256:<hex>" each), first layer first.
// InvalidArgument when a diff ID is not a sha256 digest.
[[nodiscard]] Result<std::vector<std::string>> ChainIds(const std::vector<std::string>& diff_ids);

}  // namespace imgfs::snapshotter
