#include "imgfs/registry/registry_source.h"

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <system_error>
#include <thread>
#include <vector>

namespace imgfs::registry {
namespace {

constexpr int kMaxIndexDepth = 4;

using indexer::ShortDigest;

// A bounded byte pipe from a download thread to the layer reader. Pushed bytes are gathered
// into pieces of kPieceBytes, whose buffers are kept once read (up to the pipe's capacity) for
// later pushes: no allocation, and no fresh pages, per push (curl pushes 16 KiB at a time).
// Thread-safe.
class BlobPipe {
 public:
  explicit BlobPipe(size_t capacity) : capacity_(capacity) {}

  // Writer: appends; false when the reader is gone (the download should stop).
  bool Push(std::string_view piece) {
    std::lock_guard lock(mu_);
    if (cancelled_) return false;
    buffered_ += piece.size();
    while (!piece.empty()) {
      if (pieces_.empty() || pieces_.back().size() == pieces_.back().capacity()) {
        if (spare_.empty()) {
          pieces_.emplace_back().reserve(kPieceBytes);
        } else {
          spare_bytes_ -= spare_.back().capacity();
          pieces_.push_back(std::move(spare_.back()));
          spare_.pop_back();
        }
      }
      std::string& back = pieces_.back();
      const size_t n = std::min(piece.size(), back.capacity() - back.size());
      back.append(piece.substr(0, n));
      piece.remove_prefix(n);
    }
    cv_.notify_all();
    return true;
  }
  bool Full() {
    std::lock_guard lock(mu_);
    return buffered_ >= capacity_;
  }
  // Writer: waits until the pipe is at most half full or the reader is gone, at most `limit`.
  // True when there is room.
  bool WaitForRoom(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [&] { return cancelled_ || buffered_ <= capacity_ / 2; });
    return !cancelled_ && buffered_ <= capacity_ / 2;
  }
  bool WaitForRoomForever() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return cancelled_ || buffered_ <= capacity_ / 2; });
    return !cancelled_;
  }
  // Writer: the end of the stream (OK) or why it broke.
  void Close(Status status) {
    std::lock_guard lock(mu_);
    closed_ = true;
    status_ = std::move(status);
    cv_.notify_all();
  }
  // Reader.
  Result<size_t> Read(std::span<uint8_t> buf) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !pieces_.empty() || closed_; });
    if (pieces_.empty()) {
      if (!status_.ok()) return status_;
      return size_t{0};
    }
    size_t n = 0;
    while (n < buf.size() && !pieces_.empty()) {
      std::string& front = pieces_.front();
      size_t take = std::min(buf.size() - n, front.size() - front_pos_);
      std::memcpy(buf.data() + n, front.data() + front_pos_, take);
      n += take;
      front_pos_ += take;
      if (front_pos_ == front.size()) {
        if (spare_bytes_ + front.capacity() <= capacity_) {
          front.clear();
          spare_bytes_ += front.capacity();
          spare_.push_back(std::move(front));
        }
        pieces_.pop_front();
        front_pos_ = 0;
      }
    }
    buffered_ -= n;
    cv_.notify_all();
    return n;
  }
  void Cancel() {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    pieces_.clear();
    cv_.notify_all();
  }

 private:
  static constexpr size_t kPieceBytes = 256u << 10;
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> pieces_;  // GUARDED_BY(mu_)
  std::vector<std::string> spare_;  // GUARDED_BY(mu_): read pieces, their buffers reused
  size_t spare_bytes_ = 0;          // GUARDED_BY(mu_): their capacity, at most capacity_
  size_t front_pos_ = 0;            // GUARDED_BY(mu_)
  size_t buffered_ = 0;             // GUARDED_BY(mu_)
  bool closed_ = false;             // GUARDED_BY(mu_)
  bool cancelled_ = false;          // GUARDED_BY(mu_)
  Status status_;                   // GUARDED_BY(mu_)
};

class PipeReader : public indexer::ByteSource {
 public:
  explicit PipeReader(std::shared_ptr<BlobPipe> pipe) : pipe_(std::move(pipe)) {}
  ~PipeReader() override { pipe_->Cancel(); }
  Result<size_t> Read(std::span<uint8_t> buf) override { return pipe_->Read(buf); }

 private:
  std::shared_ptr<BlobPipe> pipe_;
};

// Downloads one blob into a pipe on its own thread.
class LayerDownload {
 public:
  LayerDownload(std::shared_ptr<RegistryClient> client, Digest digest, uint64_t size,
                const StreamTuning& tuning)
      : pause_after_(tuning.pause_after),
        pipe_(std::make_shared<BlobPipe>(tuning.pipe_bytes)),
        thread_([this, client = std::move(client), digest, size] { Run(*client, digest, size); }) {}
  ~LayerDownload() {
    pipe_->Cancel();
    thread_.join();
  }
  std::shared_ptr<BlobPipe> pipe() const { return pipe_; }

 private:
  void Run(RegistryClient& client, const Digest& digest, uint64_t size) {
    uint64_t got = 0;
    bool paused = false, cancelled = false;
    auto sink = [&](std::string_view piece) -> Status {
      if (!pipe_->Push(piece)) {
        cancelled = true;
        return Status::Internal("layer reader gone");
      }
      got += piece.size();
      // A reader that keeps up frees room within moments; one that does not (a layer further
      // down the image) gets the connection dropped rather than held open idle.
      if (pipe_->Full() && !pipe_->WaitForRoom(pause_after_)) {
        paused = true;
        return Status::Internal("layer pipe full");
      }
      return Status::Ok();
    };
    while (true) {
      paused = false;
      Status s = client.StreamBlob(digest, got, size, sink);
      if (cancelled) return;
      if (paused) {
        if (!pipe_->WaitForRoomForever()) return;
        continue;
      }
      pipe_->Close(std::move(s));
      return;
    }
  }

  const std::chrono::milliseconds pause_after_;
  std::shared_ptr<BlobPipe> pipe_;
  std::thread thread_;
};

bool LooksLikeIndex(const FetchedManifest& m) {
  if (oci::IsIndexMediaType(m.media_type)) return true;
  if (oci::IsManifestMediaType(m.media_type)) return false;
  nlohmann::json j = nlohmann::json::parse(m.bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  auto it = j.find("mediaType");
  std::string mt = it != j.end() && it->is_string() ? it->get<std::string>() : "";
  if (oci::IsIndexMediaType(mt)) return true;
  if (oci::IsManifestMediaType(mt)) return false;
  return j.contains("manifests");
}

Result<oci::Descriptor> SelectPlatform(const oci::Index& index, const oci::Platform& wanted) {
  if (index.manifests.empty()) return Status::NotFound("image index lists no manifests");
  std::vector<const oci::Descriptor*> matching;
  for (const oci::Descriptor& d : index.manifests)
    if (d.platform && d.platform->Matches(wanted)) matching.push_back(&d);
  if (matching.empty()) {
    if (index.manifests.size() == 1 && !index.manifests[0].platform) return index.manifests[0];
    return Status::NotFound("no manifest for platform " + wanted.ToString() + " among " +
                            std::to_string(index.manifests.size()));
  }
  for (const oci::Descriptor* d : matching)
    if (d->platform->variant == wanted.variant) return *d;
  return *matching[0];
}

class RegistrySource : public indexer::ImageSource {
 public:
  RegistrySource(std::shared_ptr<RegistryClient> client, indexer::ResolvedImage image,
                 const StreamTuning& tuning)
      : client_(std::move(client)),
        image_(std::move(image)),
        tuning_(tuning),
        downloads_(image_.layers.size()) {}
  ~RegistrySource() override {
    downloads_.clear();  // cancels and joins
  }

  const indexer::ResolvedImage& image() const override { return image_; }

  Result<std::unique_ptr<indexer::ByteSource>> OpenLayer(size_t i) override {
    for (size_t j = i; j < image_.layers.size() && j < i + tuning_.layers_ahead; ++j) {
      if (downloads_[j]) continue;
      const indexer::LayerBlob& blob = image_.layers[j];
      try {
        downloads_[j] = std::make_unique<LayerDownload>(client_, *blob.digest, *blob.size, tuning_);
      } catch (const std::system_error& e) {
        if (j == i)
          return Status::ResourceExhausted("cannot start the download of layer " +
                                           ShortDigest(*blob.digest) + ": " + e.what());
        break;  // out of threads: later layers start when they are reached
      }
    }
    // Layers before i are done with: their threads are joined as they are released.
    for (size_t j = 0; j < i; ++j) downloads_[j].reset();
    return std::unique_ptr<indexer::ByteSource>(
        std::make_unique<PipeReader>(downloads_[i]->pipe()));
  }

 private:
  std::shared_ptr<RegistryClient> client_;
  indexer::ResolvedImage image_;
  const StreamTuning tuning_;
  std::vector<std::unique_ptr<LayerDownload>> downloads_;
};

}  // namespace

Result<ResolvedManifest> ResolveManifest(RegistryClient& client, const Reference& ref,
                                         const std::string& platform, uint64_t max_json_size) {
  ASSIGN_OR_RETURN(FetchedManifest m, client.GetManifest(ref.ManifestReference(), max_json_size));
  return ResolveFetchedManifest(client, std::move(m), platform, max_json_size);
}

Result<ResolvedManifest> ResolveFetchedManifest(RegistryClient& client, FetchedManifest m,
                                                const std::string& platform,
                                                uint64_t max_json_size) {
  ASSIGN_OR_RETURN(oci::Platform wanted, oci::Platform::Parse(platform));
  ResolvedManifest out;
  out.top_digest = m.digest;
  for (int depth = 0; LooksLikeIndex(m); ++depth) {
    if (depth >= kMaxIndexDepth) return Status::InvalidArgument("image indexes nested too deeply");
    Result<oci::Index> index = oci::ParseIndex(m.bytes, max_json_size);
    if (!index.ok()) return index.status().WithContext("index " + ShortDigest(m.digest));
    Result<oci::Descriptor> chosen = SelectPlatform(*index, wanted);
    if (!chosen.ok()) return chosen.status().WithContext("index " + ShortDigest(m.digest));
    if (!oci::IsIndexMediaType(chosen->media_type) && !oci::IsManifestMediaType(chosen->media_type))
      return Status::InvalidArgument("descriptor " + ShortDigest(chosen->digest) +
                                     " has unsupported media type \"" +
                                     chosen->media_type.substr(0, 100) + "\"");
    ASSIGN_OR_RETURN(m, client.GetManifest(chosen->digest.ToString(), max_json_size));
    if (m.bytes.size() != static_cast<uint64_t>(chosen->size))
      return Status::Corruption("manifest " + ShortDigest(m.digest) + ": " +
                                std::to_string(m.bytes.size()) + " bytes, the index says " +
                                std::to_string(chosen->size));
  }
  out.manifest = std::move(m);
  return out;
}

Result<std::unique_ptr<indexer::ImageSource>> OpenRegistrySource(
    const Reference& ref, const indexer::SourceOptions& options,
    std::shared_ptr<RegistryClient> client, const StreamTuning& tuning) {
  ASSIGN_OR_RETURN(ResolvedManifest resolved,
                   ResolveManifest(*client, ref, options.platform, options.max_json_size));
  const FetchedManifest& m = resolved.manifest;
  Result<oci::Manifest> manifest = oci::ParseManifest(m.bytes, options.max_json_size);
  if (!manifest.ok()) return manifest.status().WithContext("manifest " + ShortDigest(m.digest));
  indexer::ResolvedImage image;
  image.manifest_digest = m.digest.ToString();
  const oci::Descriptor& cd = manifest->config;
  if (static_cast<uint64_t>(cd.size) > options.max_json_size)
    return Status::ResourceExhausted("config " + ShortDigest(cd.digest) + ": " +
                                     std::to_string(cd.size) + " bytes, over the JSON limit");
  ASSIGN_OR_RETURN(image.config_json, client->GetBlob(cd.digest, options.max_json_size));
  if (image.config_json.size() != static_cast<uint64_t>(cd.size))
    return Status::Corruption("config " + ShortDigest(cd.digest) + ": " +
                              std::to_string(image.config_json.size()) +
                              " bytes, the manifest says " + std::to_string(cd.size));
  Result<oci::Config> config = oci::ParseConfig(image.config_json, options.max_json_size);
  if (!config.ok()) return config.status().WithContext("config " + ShortDigest(cd.digest));
  image.config = std::move(*config);
  if (image.config.diff_ids.size() != manifest->layers.size())
    return Status::InvalidArgument("manifest lists " + std::to_string(manifest->layers.size()) +
                                   " layers but the config has " +
                                   std::to_string(image.config.diff_ids.size()) + " diff_ids");
  for (size_t i = 0; i < manifest->layers.size(); ++i) {
    const oci::Descriptor& d = manifest->layers[i];
    Result<oci::Compression> c = oci::LayerCompression(d.media_type);
    if (!c.ok()) return c.status().WithContext("layer " + ShortDigest(d.digest));
    indexer::LayerBlob blob;
    blob.media_type = d.media_type;
    blob.digest = d.digest;
    blob.size = static_cast<uint64_t>(d.size);
    blob.stored_size = static_cast<uint64_t>(d.size);
    blob.diff_id = image.config.diff_ids[i];
    image.layers.push_back(std::move(blob));
  }
  return std::unique_ptr<indexer::ImageSource>(
      std::make_unique<RegistrySource>(std::move(client), std::move(image), tuning));
}

indexer::SourceOpener MakeRegistrySourceOpener(ClientOptions options) {
  return [options = std::move(options)](
             std::string_view source,
             const indexer::SourceOptions& so) -> Result<std::unique_ptr<indexer::ImageSource>> {
    ASSIGN_OR_RETURN(Reference ref, ParseReference(source));
    ASSIGN_OR_RETURN(std::unique_ptr<RegistryClient> client,
                     RegistryClient::Open(ref.host, ref.repository, options));
    Result<std::unique_ptr<indexer::ImageSource>> opened =
        OpenRegistrySource(ref, so, std::shared_ptr<RegistryClient>(std::move(client)));
    if (!opened.ok()) return opened.status().WithContext(ref.ToString());
    return opened;
  };
}

}  // namespace imgfs::registry
