// Writing to a store that a daemon holds: RocksDB admits one writing process, so `imgfs convert`,
// `rm`, `gc`, `repack` and `pull` on a store whose daemon serves mounts are done by the daemon
// itself (POST /convert, /rm, /gc, /repack, /pull on its socket), one at a time, each on its own
// thread so that mounts, reads and stats go on meanwhile. Garbage collection keeps the images
// mounted right now, named or not.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "imgfs/daemon/chunk_fetcher.h"
#include "imgfs/local_store.h"
#include "imgfs/registry/registry_pull.h"
#include "indexer/convert.h"

namespace imgfs::daemon {

// Converts SOURCE into the store and publishes it under `tag` (the CLI's path and the daemon's).
Result<indexer::ConvertResult> ConvertAndPublish(const std::string& source,
                                                 const indexer::ConvertOptions& options,
                                                 store::LocalStore& store, const std::string& tag);

struct RepackResult {
  std::shared_ptr<const ImageIndex> index;
  size_t traced_chunks = 0;
};
// `imgfs repack`: lays the chunks of IMAGE's recorded access trace out first and publishes the
// new index under `tag` (the CLI's path and the daemon's).
Result<RepackResult> RepackAndPublish(store::LocalStore& store, const std::string& image,
                                      const std::string& tag);
nlohmann::json RepackReply(const RepackResult& r);

// `imgfs pull`: fetches the index and trace of IMAGE's imgfs artifact (docker://...) from its
// registry with OPTIONS and publishes the index under `tag`, or the reference when it is empty
// (the CLI's path and the daemon's).
Result<registry::PulledImage> PullAndPublish(store::LocalStore& store, const std::string& image,
                                             registry::ClientOptions options,
                                             const std::string& platform, const std::string& tag);
// A pull request as JSON for the daemon: the registry options travel as a remote URL
// (registry_remote.h: plain-http, tls-verify); credentials never do, the daemon reads its own.
nlohmann::json PullRequest(const std::string& image, const registry::ClientOptions& options,
                           const std::string& platform, const std::string& tag);
nlohmann::json PullReply(const registry::PulledImage& pulled);

// Bounds on what a conversion may be asked for, from a flag or a request:
//   threads     0 (one per core) or 1..kMaxConvertThreads;
//   chunk_avg   a power of two from 4 KiB to 4 MiB;
//   chunk_min   1 KiB..chunk_avg;  chunk_max   chunk_avg..kMaxChunkSize (16 MiB).
inline constexpr unsigned kMaxConvertThreads = 256;
[[nodiscard]] Status CheckConvertOptions(const indexer::ConvertOptions& options);

// A convert request as JSON: the source (paths made absolute), tag and the options that travel.
nlohmann::json ConvertRequest(const std::string& source, const std::string& tag,
                              const indexer::ConvertOptions& options);
// What a conversion reports, as JSON.
nlohmann::json ConvertReply(const indexer::ConvertResult& r);

class StoreAdmin {
 public:
  // `mounted` lists the index digests of the daemon's mounts at the moment it is called.
  StoreAdmin(store::LocalStore& store, ChunkFetcher& fetcher,
             std::function<std::vector<Digest>()> mounted);

  static bool Handles(const std::string& route);
  // Runs "POST /convert", "/rm", "/gc", "/repack" or "/pull"; blocks while another one runs.
  Result<nlohmann::json> Run(const std::string& route, const nlohmann::json& body);

 private:
  Result<nlohmann::json> Convert(const nlohmann::json& body);
  Result<nlohmann::json> Remove(const nlohmann::json& body);
  Result<nlohmann::json> CollectGarbage();
  Result<nlohmann::json> Repack(const nlohmann::json& body);
  Result<nlohmann::json> Pull(const nlohmann::json& body);

  store::LocalStore& store_;
  ChunkFetcher& fetcher_;
  std::function<std::vector<Digest>()> mounted_;
  std::mutex mu_;  // one job at a time: a collection must not run beside a conversion
};

}  // namespace imgfs::daemon
