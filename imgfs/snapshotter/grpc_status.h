// gRPC statuses as imgfs Status values, for the two gRPC clients (the snapshotter's containerd
// client and tools/cri's CRI client). The only header besides the adapters that names gRPC.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "core/status.h"

namespace imgfs::snapshotter {

// "WHAT: MESSAGE (gRPC NAME CODE)" with the Status code that matches (NOT_FOUND → NotFound,
// UNAVAILABLE and DEADLINE_EXCEEDED → Unavailable, ...); Ok for an ok status.
Status FromGrpc(const grpc::Status& s, const std::string& what);

}  // namespace imgfs::snapshotter
