#include "indexer/image_builder.h"

#include <memory>

#include "indexer/decompress.h"
#include "indexer/image_source.h"
#include "indexer/layer_apply.h"
#include "indexer/layer_reader.h"

namespace imgfs::indexer {
namespace {

// Streams one layer through decompression, tar parsing and application, then checks its
// digests. `on_read` sees compressed bytes as they are read.
Status ApplyLayer(ImageSource& source, size_t i, LayerApplier& applier,
                  std::function<void(uint64_t)> on_read, ImageBuildInfo* info) {
  const LayerBlob& blob = source.image().layers[i];
  std::optional<oci::Compression> compression;
  if (!blob.media_type.empty()) {
    ASSIGN_OR_RETURN(compression, oci::LayerCompression(blob.media_type));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> bytes, source.OpenLayer(i));
  LayerStream stream(std::move(bytes), compression, std::move(on_read));
  {
    LayerReader reader(&stream);
    TarEntry entry;
    while (true) {
      ASSIGN_OR_RETURN(bool more, reader.NextEntry(&entry));
      if (!more) break;
      RETURN_IF_ERROR(
          applier.Apply(entry, entry.type == TarEntryType::kRegular ? &reader.Data() : nullptr));
    }
  }
  ASSIGN_OR_RETURN(LayerStreamStats stats, stream.Finish());
  if (blob.size && stats.compressed_bytes != *blob.size) {
    return Status::Corruption("blob size " + std::to_string(stats.compressed_bytes) +
                              (stats.compressed_bytes > *blob.size ? "+" : "") +
                              " does not match the descriptor's " + std::to_string(*blob.size));
  }
  if (blob.digest && stats.compressed_digest != *blob.digest) {
    return Status::Corruption("blob content does not match its digest (got " +
                              ShortDigest(stats.compressed_digest) + ")");
  }
  if (stats.uncompressed_digest != blob.diff_id) {
    return Status::Corruption("uncompressed tar stream does not match diff_id " +
                              ShortDigest(blob.diff_id) + " (got " +
                              ShortDigest(stats.uncompressed_digest) + ")");
  }
  applier.EndLayer();
  info->layers_compressed_bytes += stats.compressed_bytes;
  info->layers_uncompressed_bytes += stats.uncompressed_bytes;
  return Status::Ok();
}

}  // namespace

Result<ImageBuildInfo> BuildImageTree(std::string_view source, const BuildOptions& options,
                                      ContentWriter& writer, FsTree* tree) {
  ImageBuildInfo info;
  info.source = std::string(source);
  LayerApplier applier(tree, &writer, ApplyLimits{options.max_entries, options.max_file_size});
  if (source.substr(0, 4) == "dir:") {
    Status s = ApplyRootfsDirectory(std::string(source.substr(4)), &applier);
    if (!s.ok()) return s.WithContext(std::string(source));
    info.entries = applier.stats().entries;
    info.layers_file_bytes = applier.stats().file_bytes;
    return info;
  }
  SourceOptions source_options{options.platform, options.max_json_size};
  std::unique_ptr<ImageSource> image;
  if (source.starts_with("docker://") && options.open_registry_source) {
    ASSIGN_OR_RETURN(image, options.open_registry_source(source, source_options));
  } else {
    ASSIGN_OR_RETURN(image, OpenImageSource(source, source_options));
  }
  const ResolvedImage& resolved = image->image();
  info.manifest_digest = resolved.manifest_digest;
  info.config_json = resolved.config_json;
  info.layer_count = static_cast<uint32_t>(resolved.layers.size());
  uint64_t total = 0, done = 0;
  for (const LayerBlob& l : resolved.layers) total += l.stored_size;
  auto on_read = [&](uint64_t n) {
    done += n;
    if (options.progress) options.progress(std::min(done, total), total);
  };
  for (size_t i = 0; i < resolved.layers.size(); ++i) {
    Status s = ApplyLayer(*image, i, applier, on_read, &info);
    if (!s.ok()) {
      const LayerBlob& l = resolved.layers[i];
      return s.WithContext("layer " + (l.digest ? ShortDigest(*l.digest)
                                                : "#" + std::to_string(i) + " (diff_id " +
                                                      ShortDigest(l.diff_id) + ")"));
    }
  }
  info.entries = applier.stats().entries;
  info.layers_file_bytes = applier.stats().file_bytes;
  return info;
}

}  // namespace imgfs::indexer
