// What ImageFs reads chunks through: the chunk bytes of an index's chunk records, from wherever
// they are (ChunkFetcher: memory, the local store, the remote). An interface so the read path
// can be driven by a fake in tests and fuzzers.
//
// RequestBudget bounds what one request (one FUSE read, one prefetch run) waits on the remote:
// no remote fetch starts for it after its deadline, nor after one of its fetches failed as
// unavailable (the remote's own retries spent). A hanging remote so costs a read one remote
// call's bound, however many chunks and packs the read spans.
// Thread-safety: ChunkReader implementations are thread-safe; a RequestBudget belongs to one
// request and is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/clock.h"
#include "core/image_index.h"
#include "core/shared_bytes.h"
#include "core/status.h"
#include "imgfs/daemon/metrics.h"
#include "imgfs/remote_store.h"

namespace imgfs::daemon {

// A chunk's uncompressed bytes: decoded in memory, or (stored raw) mapped from the local store.
using ChunkBytes = SharedBytes;

class RequestBudget {
 public:
  RequestBudget() = default;  // no deadline; stops only after a remote failure
  explicit RequestBudget(Clock::time_point deadline) : deadline_(deadline) {}

  // OK while a remote fetch may start for this request; otherwise Unavailable, saying why.
  Status Check(const Clock& clock) const {
    if (!failure_.ok()) return failure_;
    if (deadline_ && clock.Now() >= *deadline_)
      return Status::Unavailable("the remote did not deliver within this request's deadline");
    return Status::Ok();
  }
  // A remote fetch of this request failed; a retryable failure ends the request's fetching.
  void RemoteFailed(const Status& s) {
    if (s.retryable() && failure_.ok()) failure_ = s;
  }
  // The retryable remote failure that ended this request's fetching, or OK.
  const Status& failure() const { return failure_; }

 private:
  std::optional<Clock::time_point> deadline_;
  Status failure_;
};

class ChunkReader {
 public:
  virtual ~ChunkReader() = default;

  // A budget for one FUSE request, its deadline counted from now.
  virtual RequestBudget NewRequestBudget() = 0;
  // The uncompressed bytes of chunk number `chunk` of `index`: exactly Chunk(chunk).length
  // bytes whose SHA-256 is its digest, or an error. `remote` may be null (local only).
  virtual Result<ChunkBytes> Get(const ImageIndex& index, uint32_t chunk,
                                 remote::RemoteStore* remote, Metrics& metrics,
                                 RequestBudget& budget) = 0;
  // Makes the given chunks local ahead of the Get()s of the same request, in as few remote
  // requests as their layout allows. Errors are left for Get() to report per chunk.
  virtual void Ensure(const ImageIndex& index, const std::vector<uint32_t>& chunks,
                      remote::RemoteStore* remote, Metrics& metrics, RequestBudget& budget) = 0;
  // Read-ahead from the local store, in the background; never touches the remote.
  virtual void WarmLocal(std::shared_ptr<const ImageIndex> index, std::vector<uint32_t> chunks) = 0;
};

}  // namespace imgfs::daemon
