#include "imgfs/daemon/store_admin.h"

#include <unistd.h>

#include <climits>
#include <cstdint>

#include "core/log.h"
#include "imgfs/daemon/image_fs.h"
#include "imgfs/daemon/request_fields.h"
#include "imgfs/registry/registry_source.h"
#include "indexer/repack.h"

namespace imgfs::daemon {
namespace {

// "kind:path[:tag]" with a relative path made absolute: the daemon has its own working directory.
std::string AbsoluteSource(const std::string& source) {
  size_t colon = source.find(':');
  if (colon == std::string::npos || colon + 1 >= source.size() || source[colon + 1] == '/')
    return source;
  char cwd[PATH_MAX];
  if (!::getcwd(cwd, sizeof cwd)) return source;
  return source.substr(0, colon + 1) + cwd + "/" + source.substr(colon + 1);
}

}  // namespace

Result<indexer::ConvertResult> ConvertAndPublish(const std::string& source,
                                                 const indexer::ConvertOptions& options,
                                                 store::LocalStore& store, const std::string& tag) {
  RETURN_IF_ERROR(CheckConvertOptions(options));
  ASSIGN_OR_RETURN(indexer::ConvertResult r, indexer::ConvertImage(source, options, store));
  RETURN_IF_ERROR(store.SyncChunks());
  RETURN_IF_ERROR(store.PublishIndex(*r.index, tag, store::LocalStore::Durability::kSynced,
                                     store::LocalStore::Origin::kConverted));
  return r;
}

Result<RepackResult> RepackAndPublish(store::LocalStore& store, const std::string& image,
                                      const std::string& tag) {
  ASSIGN_OR_RETURN(Digest digest, store.Resolve(image));
  ASSIGN_OR_RETURN(auto index, store.GetIndex(digest));
  auto trace = store.GetTrace(digest);
  if (!trace.ok())
    return Status::NotFound("no access trace recorded for " + image +
                            " (mount it with --trace record first)");
  std::vector<Digest> order = ParseTrace(*trace);
  ASSIGN_OR_RETURN(std::string bytes,
                   indexer::RepackIndex(*index, order, store, indexer::PackingOptions{}));
  ASSIGN_OR_RETURN(std::shared_ptr<const ImageIndex> repacked, ImageIndex::Parse(std::move(bytes)));
  // The trace names chunks, not positions: it holds for the new layout as it is.
  RETURN_IF_ERROR(store.PutTrace(repacked->digest(), *trace));
  // The same files and metadata in another order: as trustworthy as the index it came from.
  ASSIGN_OR_RETURN(bool converted, store.ConvertedHere(digest));
  RETURN_IF_ERROR(store.PublishIndex(
      *repacked, tag, store::LocalStore::Durability::kSynced,
      converted ? store::LocalStore::Origin::kConverted : store::LocalStore::Origin::kFetched));
  return RepackResult{repacked, order.size()};
}

nlohmann::json RepackReply(const RepackResult& r) {
  return {{"digest", r.index->digest().ToString()},
          {"traced_chunks", r.traced_chunks},
          {"chunks", r.index->chunk_count()},
          {"packs", r.index->pack_count()}};
}

Status CheckConvertOptions(const indexer::ConvertOptions& options) {
  if (options.threads > kMaxConvertThreads)
    return Status::InvalidArgument("threads must be from 1 to " +
                                   std::to_string(kMaxConvertThreads) + " (0: one per core), not " +
                                   std::to_string(options.threads));
  const ChunkerParams& c = options.chunker;
  if (c.avg_size < 4096 || c.avg_size > (4u << 20) || (c.avg_size & (c.avg_size - 1)))
    return Status::InvalidArgument(
        "the average chunk size must be a power of two from 4096 to "
        "4194304, not " +
        std::to_string(c.avg_size));
  if (c.min_size < 1024 || c.min_size > c.avg_size)
    return Status::InvalidArgument("the minimum chunk size must be from 1024 to the average (" +
                                   std::to_string(c.avg_size) + "), not " +
                                   std::to_string(c.min_size));
  if (c.max_size < c.avg_size || c.max_size > kMaxChunkSize)
    return Status::InvalidArgument(
        "the maximum chunk size must be from the average (" + std::to_string(c.avg_size) + ") to " +
        std::to_string(kMaxChunkSize) + ", not " + std::to_string(c.max_size));
  return Status::Ok();
}

nlohmann::json ConvertRequest(const std::string& source, const std::string& tag,
                              const indexer::ConvertOptions& options) {
  return {{"source", AbsoluteSource(source)},      {"tag", tag},
          {"platform", options.build.platform},    {"threads", options.threads},
          {"chunk_min", options.chunker.min_size}, {"chunk_avg", options.chunker.avg_size},
          {"chunk_max", options.chunker.max_size}};
}

nlohmann::json ConvertReply(const indexer::ConvertResult& r) {
  return {{"digest", r.index->digest().ToString()},
          {"files", r.tree.files},
          {"file_bytes", r.tree.file_bytes},
          {"input_bytes", r.image.layers_uncompressed_bytes ? r.image.layers_uncompressed_bytes
                                                            : r.chunking.file_bytes},
          {"seconds", r.seconds},
          {"chunks", r.index->chunk_count()},
          {"new_chunks", r.chunking.new_chunks},
          {"new_stored_bytes", r.chunking.new_stored_bytes}};
}

StoreAdmin::StoreAdmin(store::LocalStore& store, ChunkFetcher& fetcher,
                       std::function<std::vector<Digest>()> mounted)
    : store_(store), fetcher_(fetcher), mounted_(std::move(mounted)) {}

bool StoreAdmin::Handles(const std::string& route) {
  return route == "POST /convert" || route == "POST /rm" || route == "POST /gc" ||
         route == "POST /repack" || route == "POST /pull";
}

Result<nlohmann::json> StoreAdmin::Run(const std::string& route, const nlohmann::json& body) {
  std::lock_guard<std::mutex> lock(mu_);
  if (route == "POST /convert") return Convert(body);
  if (route == "POST /rm") return Remove(body);
  if (route == "POST /gc") return CollectGarbage();
  if (route == "POST /repack") return Repack(body);
  if (route == "POST /pull") return Pull(body);
  return Status::NotFound("no such request: " + route);
}

Result<nlohmann::json> StoreAdmin::Convert(const nlohmann::json& body) {
  const std::string source = body.value("source", "");
  if (source.empty()) return Status::InvalidArgument("convert needs a source");
  indexer::ConvertOptions options;
  options.build.platform = body.value("platform", options.build.platform);
  ASSIGN_OR_RETURN(uint64_t threads, UintField(body, "threads", 0, 0, kMaxConvertThreads));
  options.threads = static_cast<unsigned>(threads);
  ChunkerParams& c = options.chunker;
  constexpr uint64_t kU32 = UINT32_MAX;
  ASSIGN_OR_RETURN(uint64_t min, UintField(body, "chunk_min", c.min_size, 0, kU32));
  ASSIGN_OR_RETURN(uint64_t avg, UintField(body, "chunk_avg", c.avg_size, 0, kU32));
  ASSIGN_OR_RETURN(uint64_t max, UintField(body, "chunk_max", c.max_size, 0, kU32));
  c = {static_cast<uint32_t>(min), static_cast<uint32_t>(avg), static_cast<uint32_t>(max)};
  // docker:// sources: credentials only from the daemon's credential files, never a request.
  registry::ClientOptions registry_options;
  ASSIGN_OR_RETURN(uint64_t plain_http, UintField(body, "plain_http", 0, 0, 1));
  ASSIGN_OR_RETURN(uint64_t skip_verify, UintField(body, "tls_skip_verify", 0, 0, 1));
  registry_options.plain_http = plain_http == 1;
  registry_options.transport.tls_verify = skip_verify == 0;
  options.build.open_registry_source = registry::MakeRegistrySourceOpener(registry_options);
  IMGFS_LOG(Info) << "converting " << source << " for the CLI";
  ASSIGN_OR_RETURN(indexer::ConvertResult r,
                   ConvertAndPublish(source, options, store_, body.value("tag", source)));
  return ConvertReply(r);
}

Result<nlohmann::json> StoreAdmin::Remove(const nlohmann::json& body) {
  ASSIGN_OR_RETURN(std::vector<std::string> removed, store_.RemoveImage(body.value("image", "")));
  return nlohmann::json{{"removed", removed}};
}

Result<nlohmann::json> StoreAdmin::Repack(const nlohmann::json& body) {
  const std::string image = body.value("image", "");
  ASSIGN_OR_RETURN(RepackResult r, RepackAndPublish(store_, image, body.value("tag", image)));
  return RepackReply(r);
}

Result<registry::PulledImage> PullAndPublish(store::LocalStore& store, const std::string& image,
                                             registry::ClientOptions options,
                                             const std::string& platform, const std::string& tag) {
  ASSIGN_OR_RETURN(registry::Reference ref, registry::ParseReference(image));
  ASSIGN_OR_RETURN(auto client,
                   registry::RegistryClient::Open(ref.host, ref.repository, std::move(options)));
  ASSIGN_OR_RETURN(registry::PulledImage pulled,
                   registry::PullFromRegistry(*client, ref, platform));
  // Both can be pulled again: not synced (~20 ms of a CRI pull).
  constexpr auto kRefetchable = store::LocalStore::Durability::kRefetchable;
  if (pulled.trace)
    RETURN_IF_ERROR(store.PutTrace(pulled.index_digest, *pulled.trace, kRefetchable));
  RETURN_IF_ERROR(
      store.PublishIndex(*pulled.index, tag.empty() ? ref.ToString() : tag, kRefetchable));
  return pulled;
}

nlohmann::json PullRequest(const std::string& image, const registry::ClientOptions& options,
                           const std::string& platform, const std::string& tag) {
  nlohmann::json j = {{"image", image}, {"platform", platform}, {"tag", tag}};
  if (auto ref = registry::ParseReference(image); ref.ok())
    j["remote"] = registry::RegistryRemoteUrl(*ref, options);
  return j;
}

nlohmann::json PullReply(const registry::PulledImage& pulled) {
  return {{"digest", pulled.index_digest.ToString()},
          {"artifact", pulled.artifact.ToString()},
          {"trace", pulled.trace.has_value()},
          {"metadata", pulled.index ? std::string(pulled.index->metadata()) : std::string()}};
}

Result<nlohmann::json> StoreAdmin::Pull(const nlohmann::json& body) {
  const std::string image = body.value("image", "");
  ASSIGN_OR_RETURN(registry::Reference ref, registry::ParseReference(image));
  // The options are those a remote URL carries; the host and repository must be the image's.
  ASSIGN_OR_RETURN(auto remote, registry::ParseRegistryRemoteUrl(body.value("remote", ""), {}));
  if (remote.first.host != ref.host || remote.first.repository != ref.repository)
    return Status::InvalidArgument("pull of " + image + " with the options of another repository");
  ASSIGN_OR_RETURN(registry::PulledImage pulled,
                   PullAndPublish(store_, image, std::move(remote.second),
                                  body.value("platform", "linux/amd64"), body.value("tag", "")));
  return PullReply(pulled);
}

Result<nlohmann::json> StoreAdmin::CollectGarbage() {
  ASSIGN_OR_RETURN(store::GcResult r, store_.GarbageCollect(mounted_()));
  // Cached chunks may have gone: the eviction bookkeeping starts over from the store.
  RETURN_IF_ERROR(fetcher_.ReloadCacheState());
  ASSIGN_OR_RETURN(store::StoreStats s, store_.Stats());
  return nlohmann::json{{"indexes_removed", r.indexes_removed},
                        {"chunks_removed", r.chunks_removed},
                        {"bytes_removed", r.bytes_removed},
                        {"chunks", s.chunks},
                        {"raw_bytes", s.raw_bytes},
                        {"stored_bytes", s.stored_bytes},
                        {"indexes", s.indexes}};
}

}  // namespace imgfs::daemon
