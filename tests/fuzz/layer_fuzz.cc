// Feeds arbitrary bytes as layer blobs through decompression, tar parsing and layer application
// into a ContentWriter that reads and drops file data. Must never crash, hang or leak.
//
// The first byte picks the mode: bits 0-1 the blob encoding (0 plain tar, 1 the rest gzip-
// compressed here so the tar parser sees it intact, 2 the rest as a raw gzip stream, 3 as a raw
// zstd stream); bit 2 splits the rest into two layers at a position taken from byte 1.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "indexer/decompress.h"
#include "indexer/layer_apply.h"
#include "indexer/layer_reader.h"

namespace {

class DiscardingWriter : public imgfs::indexer::ContentWriter {
 public:
  imgfs::Result<std::shared_ptr<imgfs::indexer::FileContent>> AddFile(
      imgfs::indexer::ByteSource& src, uint64_t size) override {
    uint8_t buf[4096];
    uint64_t left = size;
    while (left > 0) {
      auto n = src.Read({buf, static_cast<size_t>(std::min<uint64_t>(sizeof buf, left))});
      if (!n.ok()) return n.status();
      if (*n == 0) return imgfs::Status::Corruption("short file");
      left -= *n;
    }
    auto c = std::make_shared<imgfs::indexer::FileContent>();
    c->size = size;
    return c;
  }
  imgfs::Status Finish() override { return imgfs::Status::Ok(); }
};

std::string GzipCompress(const uint8_t* data, size_t size) {
  z_stream z{};
  deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, size) + 64, '\0');
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void RunLayer(const std::string& blob, imgfs::oci::Compression c,
              imgfs::indexer::LayerApplier& applier) {
  auto src = std::make_unique<imgfs::indexer::MemorySource>(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(blob.data()), blob.size()));
  // Small buffers: cheap per run, and entries and blocks straddle buffer boundaries.
  imgfs::indexer::LayerStream stream(std::move(src), c, {}, 4096);
  {
    imgfs::indexer::LayerReader reader(&stream);
    imgfs::indexer::TarEntry e;
    while (true) {
      auto more = reader.NextEntry(&e);
      if (!more.ok() || !*more) break;
      imgfs::Status s = applier.Apply(
          e, e.type == imgfs::indexer::TarEntryType::kRegular ? &reader.Data() : nullptr);
      if (!s.ok()) return;
    }
  }
  auto stats = stream.Finish();
  (void)stats;
  applier.EndLayer();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t mode = data[0];
  const size_t split = data[1];
  data += 2;
  size -= 2;
  std::vector<std::string> layers;
  if ((mode & 4) && split * 16 < size) {
    layers.emplace_back(reinterpret_cast<const char*>(data), split * 16);
    layers.emplace_back(reinterpret_cast<const char*>(data) + split * 16, size - split * 16);
  } else {
    layers.emplace_back(reinterpret_cast<const char*>(data), size);
  }
  imgfs::indexer::FsTree tree;
  DiscardingWriter writer;
  imgfs::indexer::LayerApplier applier(&tree, &writer, {100000, 1ull << 24});
  for (std::string& layer : layers) {
    imgfs::oci::Compression c = imgfs::oci::Compression::kNone;
    switch (mode & 3) {
      case 1:
        layer = GzipCompress(reinterpret_cast<const uint8_t*>(layer.data()), layer.size());
        c = imgfs::oci::Compression::kGzip;
        break;
      case 2:
        c = imgfs::oci::Compression::kGzip;
        break;
      case 3:
        c = imgfs::oci::Compression::kZstd;
        break;
      default:
        break;
    }
    RunLayer(layer, c, applier);
  }
  return 0;
}
