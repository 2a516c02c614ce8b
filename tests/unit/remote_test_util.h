// Test helpers for the remote store and push: a converted image in a real LocalStore (several
// packs, compressible and incompressible chunks), and a check that every chunk of an index can
// be read back from a remote through ranged reads.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>

#include "core/chunk_codec.h"
#include "imgfs/local_store.h"
#include "imgfs/remote_store.h"
#include "indexer/convert.h"

namespace imgfs::testing {

inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Writes a small tree under `src` (about 1.6 MB) whose chunks fill several 200 KB packs.
inline void MakeSourceTree(const std::string& src, uint64_t seed) {
  namespace fs = std::filesystem;
  fs::create_directories(src + "/usr/bin");
  fs::create_directories(src + "/etc");
  auto write = [](const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
  };
  write(src + "/usr/bin/tool", RandomBytes(700000, seed));  // incompressible
  std::string text;
  for (int i = 0; text.size() < 600000; ++i) text += "line " + std::to_string(i * seed) + "\n";
  write(src + "/etc/big.conf", text);  // compressible
  write(src + "/etc/small", "hello\n");
  write(src + "/usr/bin/other", RandomBytes(300000, seed + 1));
  write(src + "/usr/bin/copy", RandomBytes(300000, seed + 1));  // dedups with `other`
}

// Converts `src` into `store`; packs are cut at 200 KB so the image has several.
inline std::shared_ptr<const ImageIndex> ConvertTree(const std::string& src,
                                                     store::LocalStore& store) {
  indexer::ConvertOptions options;
  options.packing.target_pack_size = 200000;
  options.threads = 2;
  auto r = indexer::ConvertImage("dir:" + src, options, store);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return nullptr;
  EXPECT_TRUE(store.SyncChunks().ok());
  return r->index;
}

// Reads every chunk of `index` from `remote` with one ranged read each and decodes it, and
// every pack whole, checking digests; then the index blob itself.
inline void ExpectImageReadableFrom(const ImageIndex& index, remote::RemoteStore& remote) {
  for (uint32_t i = 0; i < index.chunk_count(); ++i) {
    ChunkRecord c = index.Chunk(i);
    auto stored = remote.ReadBlobRange(index.Pack(c.pack).digest, c.pack_offset, c.stored_length);
    ASSERT_TRUE(stored.ok()) << "chunk " << i << ": " << stored.status().ToString();
    std::string raw;
    Status s = DecodeChunk(*stored, c.length, c.digest, &raw);
    EXPECT_TRUE(s.ok()) << "chunk " << i << ": " << s.ToString();
  }
  for (uint32_t p = 0; p < index.pack_count(); ++p) {
    PackRecord pack = index.Pack(p);
    auto blob = remote.ReadBlob(pack.digest, pack.size);
    ASSERT_TRUE(blob.ok()) << blob.status().ToString();
    EXPECT_EQ(blob->size(), pack.size);
    EXPECT_EQ(Sha256(*blob), pack.digest);
  }
  auto bytes = remote.ReadBlob(index.digest(), 64u << 20);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(Sha256(*bytes), index.digest());
  EXPECT_TRUE(ImageIndex::Parse(*bytes).ok());
}

}  // namespace imgfs::testing
