// Images in a registry as an indexer::ImageSource: `imgfs convert
// docker://HOST/REPO[:TAG|@DIGEST]`.
//
// Open() resolves the reference: the manifest or image index by tag or digest (OCI or Docker
// schema 2), an index narrowed to the manifest for SourceOptions::platform (nested indexes up
// to 4 deep), then the config blob; every one of them digest-verified against what named it,
// the config also size-checked and parsed.
//
// Layers stream: OpenLayer(i) starts the downloads of layers i..i+layers_ahead-1 that have not
// started, each on its own thread into a bounded in-memory pipe (no copy on disk), and returns
// a reader of layer i. Later layers download while earlier ones are applied; a download whose
// pipe stays full is paused by dropping its connection and resumed later with a Range request.
// The compressed digest and size of each layer are verified by the consumer (image_builder.cc
// hashes every byte it reads); a layer longer than its descriptor says is Corruption here.
//
// Not thread-safe (like every ImageSource); the destructor stops and joins its downloads.
#pragma once

#include <chrono>
#include <memory>

#include "imgfs/registry/reference.h"
#include "imgfs/registry/registry_client.h"
#include "indexer/image_source.h"

namespace imgfs::registry {

// How layers stream; the defaults are what `imgfs convert` uses, tests shrink them.
struct StreamTuning {
  size_t layers_ahead = 3;        // downloads running at once
  size_t pipe_bytes = 32u << 20;  // buffered per download
  // A download whose pipe stays full this long drops its connection (resumed with Range later).
  std::chrono::milliseconds pause_after{2000};
};

Result<std::unique_ptr<indexer::ImageSource>> OpenRegistrySource(
    const Reference& ref, const indexer::SourceOptions& options,
    std::shared_ptr<RegistryClient> client, const StreamTuning& tuning = {});

// An opener for BuildOptions::open_registry_source: parses the reference and opens a client
// of its repository with `options`.
indexer::SourceOpener MakeRegistrySourceOpener(ClientOptions options);

// Resolves a reference to its image manifest (through indexes, by platform). Shared with push
// (the subject of an artifact is the image's manifest).
struct ResolvedManifest {
  FetchedManifest manifest;  // the image manifest itself
  Digest top_digest;         // what the reference named: the manifest or the index above it
};
Result<ResolvedManifest> ResolveManifest(RegistryClient& client, const Reference& ref,
                                         const std::string& platform, uint64_t max_json_size);
// The same from TOP, the manifest or index the reference named, already fetched.
Result<ResolvedManifest> ResolveFetchedManifest(RegistryClient& client, FetchedManifest top,
                                                const std::string& platform,
                                                uint64_t max_json_size);

}  // namespace imgfs::registry
