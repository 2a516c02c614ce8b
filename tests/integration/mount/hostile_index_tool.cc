// hostile_index_tool REMOTE_DIR FILE...: writes two hostile image indexes, and their packs, into
// the file:// remote REMOTE_DIR (REMOTE_DIR/blobs/sha256/<hex>), built as an attacker would:
// self-consistent, with the right checksum, around chunks an image already converted into a
// store holds. Each FILE is the whole content of one file of that image and must be one chunk
// of it (at most the chunker's minimum size, 16 KiB).
//   lying  file "fN" for the N-th FILE: its chunk's digest with a length one byte short, stored
//          raw in a pack of that many junk bytes.
//   twice  "a": the first FILE's chunk, rightly; "b": the same digest, 4096 bytes longer.
// Prints "lying sha256:<hex>" and "twice sha256:<hex>". Exits 1 with a message on any error.
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/digest.h"
#include "core/image_index.h"
#include "tests/hostile_index.h"

namespace imgfs {
namespace {

bool WriteBlob(const std::string& remote, const std::string& bytes, Digest* digest) {
  *digest = Sha256(bytes);
  std::filesystem::path dir = std::filesystem::path(remote) / "blobs" / "sha256";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::ofstream out(dir / digest->Hex(), std::ios::binary | std::ios::trunc);
  out << bytes;
  return static_cast<bool>(out.flush());
}

InodeAttrs FileAttrs(uint64_t size) {
  InodeAttrs a;
  a.mode = S_IFREG | 0644;
  a.size = size;
  return a;
}

int Run(const std::string& remote, const std::vector<std::string>& contents) {
  // lying: every file's chunk one byte short.
  {
    std::string pack;
    ImageIndexWriter w;
    std::vector<uint32_t> chunks;
    for (const std::string& c : contents) {
      const uint32_t lie = static_cast<uint32_t>(c.size() - 1);
      chunks.push_back(w.AddChunk({Sha256(c), lie, lie, 0, pack.size()}));
      pack.append(lie, 'J');
    }
    Digest pack_digest;
    if (!WriteBlob(remote, pack, &pack_digest)) return 1;
    w.AddPack({pack_digest, pack.size()});
    w.AddInode({S_IFDIR | 0755, 0, 0, 2});
    std::vector<std::pair<std::string, uint32_t>> entries;
    for (size_t i = 0; i < contents.size(); ++i) {
      uint32_t ino = w.AddInode(FileAttrs(contents[i].size() - 1));
      uint32_t one[] = {chunks[i]};
      w.SetFileChunks(ino, one);
      entries.emplace_back("f" + std::to_string(i), ino);
    }
    w.SetDirEntries(0, entries);
    auto bytes = w.Finish();
    if (!bytes.ok()) {
      std::cerr << "lying: " << bytes.status().ToString() << "\n";
      return 1;
    }
    Digest d;
    if (!WriteBlob(remote, *bytes, &d)) return 1;
    std::cout << "lying " << d.ToString() << "\n";
  }
  // twice: one digest, two lengths. The writer refuses that, so chunk 1 is written with a
  // stand-in digest and patched afterwards, checksum and all.
  {
    const std::string& real = contents[0];
    const uint32_t longer = static_cast<uint32_t>(real.size() + 4096);
    std::string pack = real + std::string(longer, 'J');
    Digest pack_digest;
    if (!WriteBlob(remote, pack, &pack_digest)) return 1;
    ImageIndexWriter w;
    w.AddPack({pack_digest, pack.size()});
    uint32_t a = w.AddChunk({Sha256(real), uint32_t(real.size()), uint32_t(real.size()), 0, 0});
    uint32_t b = w.AddChunk({Sha256("stand-in"), longer, longer, 0, real.size()});
    w.AddInode({S_IFDIR | 0755, 0, 0, 2});
    uint32_t fa = w.AddInode(FileAttrs(real.size()));
    uint32_t fb = w.AddInode(FileAttrs(longer));
    uint32_t la[] = {a}, lb[] = {b};
    w.SetFileChunks(fa, la);
    w.SetFileChunks(fb, lb);
    w.SetDirEntries(0, {{"a", fa}, {"b", fb}});
    auto bytes = w.Finish();
    if (!bytes.ok()) {
      std::cerr << "twice: " << bytes.status().ToString() << "\n";
      return 1;
    }
    Digest d;
    if (!WriteBlob(remote, testing::WithChunkDigest(*bytes, b, Sha256(real)), &d)) return 1;
    std::cout << "twice " << d.ToString() << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace imgfs

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: hostile_index_tool REMOTE_DIR FILE...\n";
    return 2;
  }
  std::vector<std::string> contents;
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in || ss.str().size() < 2) {
      std::cerr << "hostile_index_tool: cannot read " << argv[i] << " (or shorter than 2 bytes)\n";
      return 1;
    }
    contents.push_back(ss.str());
  }
  return imgfs::Run(argv[1], contents);
}
