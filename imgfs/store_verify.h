// `imgfs verify`: checks a local store end to end, the way a crash or a damaged disk would show.
//
// - every chunk record: its bytes are there (in RocksDB or inside a data file), pass their XXH3,
//   decode to the recorded length, and hash to the chunk's SHA-256;
// - every stored index parses and hashes to its digest;
// - every ref names a stored index;
// - per image, how many of its chunks are local (an image mounted from a remote or pulled is
//   normally partial: its chunks are fetched on demand; that is counted, not a problem).
// Reads only: run it on a store opened read-only (beside a daemon, or after a crash).
// Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "imgfs/local_store.h"

namespace imgfs::store {

struct ImageCompleteness {
  std::string name;  // a ref name
  Digest index_digest;
  uint64_t chunks = 0;        // distinct chunks the image names
  uint64_t local_chunks = 0;  // of those, in the store
};

struct VerifyReport {
  uint64_t chunks = 0;  // records checked
  uint64_t stored_bytes = 0;
  uint64_t indexes = 0;
  uint64_t refs = 0;
  std::vector<std::string> problems;  // one line each; empty: the store is sound
  std::vector<ImageCompleteness> images;
};

// Errors only when the store cannot be read at all; what is wrong inside goes to `problems`.
Result<VerifyReport> VerifyStore(LocalStore& store);

}  // namespace imgfs::store
