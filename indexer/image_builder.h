// Builds the merged file tree of an image from a SOURCE string, streaming every regular file's
// bytes into a ContentWriter. The entry point of the indexer's front end.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "indexer/content_writer.h"
#include "indexer/fs_tree.h"
#include "indexer/image_source.h"

namespace imgfs::indexer {

struct BuildOptions {
  std::string platform = "linux/amd64";  // for multi-platform OCI indexes: "os/arch[/variant]"
  uint64_t max_entries = 10'000'000;     // per image, all layers together
  uint64_t max_file_size = 1ull << 40;   // absurd sizes are refused
  uint64_t max_json_size = 8u << 20;     // manifest/config/index JSON
  // Compressed layer bytes read so far and in all; may be empty. Called on the calling thread.
  std::function<void(uint64_t done_bytes, uint64_t total_bytes)> progress;
  // Opens "docker://..." sources (a registry: imgfs/registry/registry_source.h); the indexer
  // itself knows only local ones. May be empty.
  SourceOpener open_registry_source;
};

struct ImageBuildInfo {
  std::string source;           // the SOURCE string as given
  std::string manifest_digest;  // "sha256:..." of the manifest; empty for dir:
  std::string config_json;      // the image config JSON bytes as stored; empty for dir:
  uint32_t layer_count = 0;
  uint64_t layers_compressed_bytes = 0;    // sum of layer blob sizes
  uint64_t layers_uncompressed_bytes = 0;  // sum of uncompressed tar stream sizes
  uint64_t layers_file_bytes = 0;          // regular-file bytes over all layers, counting files
                                           // later overwritten or deleted (hardlinks once)
  uint64_t entries = 0;                    // tar entries processed
};

// SOURCE forms: "oci:DIR[:TAG]", "docker-archive:FILE[:REF]" (see indexer/image_source.h) and
// "dir:PATH" (a rootfs directory on disk, see ApplyRootfsDirectory).
//
// Fills *tree (REQUIRES: a fresh, empty FsTree) and sends every regular file's bytes to
// writer.AddFile; does not call writer.Finish(). Every layer blob's digest and size and every
// uncompressed stream's diff_id are verified; since a digest is known only at the end of its
// layer, the tree and writer may have received data from a bad layer when an error is returned,
// and the caller must publish nothing then. Errors name the layer and entry:
//   layer sha256:ab12cd34ef56: entry "../../etc/x": path leaves the image root
// Not thread-safe with respect to `writer` and `tree`; otherwise reentrant.
Result<ImageBuildInfo> BuildImageTree(std::string_view source, const BuildOptions& options,
                                      ContentWriter& writer, FsTree* tree);

}  // namespace imgfs::indexer
