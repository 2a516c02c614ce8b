// Test helpers for the image front end: an in-memory tar writer (libarchive), gzip/zstd
// compressors, an OCI layout and docker-archive builder in a temporary directory, and a
// ContentWriter fake that keeps file bytes in memory.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/digest.h"
#include "indexer/content_writer.h"
#include "indexer/fs_tree.h"

namespace imgfs::testing {

struct TarItem {
  std::string path;
  char type = 'f';  // f file, d dir, l symlink, h hardlink, c char, b block, p fifo
  std::string data;
  std::string link;
  uint32_t mode = 0644;
  int64_t uid = 0, gid = 0;
  int64_t mtime = 1700000000;
  long mtime_nsec = 0;  // NOLINT
  std::map<std::string, std::string> xattrs;
  uint32_t major = 0, minor = 0;
};

inline TarItem File(std::string path, std::string data, uint32_t mode = 0644) {
  TarItem t;
  t.path = std::move(path);
  t.data = std::move(data);
  t.mode = mode;
  return t;
}
inline TarItem Dir(std::string path, uint32_t mode = 0755) {
  TarItem t;
  t.path = std::move(path);
  t.type = 'd';
  t.mode = mode;
  return t;
}
inline TarItem Symlink(std::string path, std::string target) {
  TarItem t;
  t.path = std::move(path);
  t.type = 'l';
  t.link = std::move(target);
  t.mode = 0777;
  return t;
}
inline TarItem Hardlink(std::string path, std::string target) {
  TarItem t;
  t.path = std::move(path);
  t.type = 'h';
  t.link = std::move(target);
  return t;
}

// pax: PAX (long names, xattrs, sparse, nanoseconds); otherwise ustar, or GNU tar when `gnu`.
inline std::string MakeTar(const std::vector<TarItem>& items, bool pax = true, bool gnu = false) {
  std::string out;
  struct archive* a = archive_write_new();
  if (pax) {
    archive_write_set_format_pax(a);
  } else if (gnu) {
    archive_write_set_format_gnutar(a);
  } else {
    archive_write_set_format_ustar(a);
  }
  archive_write_set_bytes_per_block(a, 512);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* p, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(p)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const TarItem& t : items) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    unsigned type = AE_IFREG;
    switch (t.type) {
      case 'd':
        type = AE_IFDIR;
        break;
      case 'l':
        type = AE_IFLNK;
        break;
      case 'c':
        type = AE_IFCHR;
        break;
      case 'b':
        type = AE_IFBLK;
        break;
      case 'p':
        type = AE_IFIFO;
        break;
      default:
        break;
    }
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, t.mode);
    archive_entry_set_uid(e, t.uid);
    archive_entry_set_gid(e, t.gid);
    archive_entry_set_mtime(e, t.mtime, t.mtime_nsec);
    if (t.type == 'l') archive_entry_set_symlink(e, t.link.c_str());
    if (t.type == 'h') archive_entry_set_hardlink(e, t.link.c_str());
    if (t.type == 'c' || t.type == 'b') {
      archive_entry_set_rdevmajor(e, t.major);
      archive_entry_set_rdevminor(e, t.minor);
    }
    for (const auto& [k, v] : t.xattrs)
      archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    archive_entry_set_size(e, t.type == 'f' ? static_cast<int64_t>(t.data.size()) : 0);
    archive_write_header(a, e);
    if (t.type == 'f' && !t.data.empty()) archive_write_data(a, t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

inline std::string Gzip(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

inline std::string Zstd(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  return out;
}

inline std::string Hex(const std::string& data) { return Sha256(data).Hex(); }
inline std::string DigestOf(const std::string& data) { return "sha256:" + Hex(data); }

inline void WriteFile(const std::filesystem::path& p, const std::string& data) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "imgfs-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One layer of a test image: the blob as stored and the uncompressed tar it decodes to.
struct TestLayer {
  std::string blob;
  std::string tar;
  std::string media_type;
};

inline TestLayer Layer(const std::vector<TarItem>& items, char compression = 'g') {
  TestLayer l;
  l.tar = MakeTar(items);
  if (compression == 'g') {
    l.blob = Gzip(l.tar);
    l.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
  } else if (compression == 'z') {
    l.blob = Zstd(l.tar);
    l.media_type = "application/vnd.oci.image.layer.v1.tar+zstd";
  } else {
    l.blob = l.tar;
    l.media_type = "application/vnd.oci.image.layer.v1.tar";
  }
  return l;
}

// Writes OCI layouts: blobs, manifests, configs and index.json.
class OciLayoutWriter {
 public:
  explicit OciLayoutWriter(std::string dir) : dir_(std::move(dir)) {
    WriteFile(dir_ + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  }
  std::string AddBlob(const std::string& data) {
    WriteFile(dir_ + "/blobs/sha256/" + Hex(data), data);
    return DigestOf(data);
  }
  static nlohmann::json Desc(const std::string& media_type, const std::string& data) {
    return {{"mediaType", media_type}, {"digest", DigestOf(data)}, {"size", data.size()}};
  }
  // Writes config and manifest; returns the manifest descriptor (not yet in index.json).
  nlohmann::json AddImage(const std::vector<TestLayer>& layers, const std::string& os = "linux",
                          const std::string& arch = "amd64") {
    nlohmann::json diff_ids = nlohmann::json::array();
    nlohmann::json descs = nlohmann::json::array();
    for (const TestLayer& l : layers) {
      diff_ids.push_back(DigestOf(l.tar));
      AddBlob(l.blob);
      descs.push_back(Desc(l.media_type, l.blob));
    }
    nlohmann::json config = {{"architecture", arch},
                             {"os", os},
                             {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}},
                             {"config", {{"Env", {"PATH=/bin"}}}}};
    last_config_ = config.dump();
    AddBlob(last_config_);
    nlohmann::json manifest = {
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
        {"config", Desc("application/vnd.oci.image.config.v1+json", last_config_)},
        {"layers", descs}};
    last_manifest_ = manifest.dump();
    AddBlob(last_manifest_);
    return Desc("application/vnd.oci.image.manifest.v1+json", last_manifest_);
  }
  void WriteIndex(const std::vector<nlohmann::json>& manifests) {
    nlohmann::json index = {{"schemaVersion", 2},
                            {"mediaType", "application/vnd.oci.image.index.v1+json"},
                            {"manifests", manifests}};
    WriteFile(dir_ + "/index.json", index.dump());
  }
  // The common case: one image, tagged "latest".
  void WriteImage(const std::vector<TestLayer>& layers) {
    nlohmann::json d = AddImage(layers);
    d["annotations"] = {{"org.opencontainers.image.ref.name", "latest"}};
    WriteIndex({d});
  }
  const std::string& last_config() const { return last_config_; }
  const std::string& last_manifest() const { return last_manifest_; }

 private:
  std::string dir_;
  std::string last_config_;
  std::string last_manifest_;
};

// Keeps every file's bytes in memory, keyed by its FileContent.
class FakeContentWriter : public indexer::ContentWriter {
 public:
  Result<std::shared_ptr<indexer::FileContent>> AddFile(indexer::ByteSource& src,
                                                        uint64_t size) override {
    std::string data;
    std::vector<uint8_t> buf(64 << 10);
    while (data.size() < size) {
      auto n = src.Read({buf.data(), std::min<uint64_t>(buf.size(), size - data.size())});
      if (!n.ok()) return n.status();
      if (*n == 0) return Status::Corruption("file data ended early");
      data.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
    auto content = std::make_shared<indexer::FileContent>();
    content->size = size;
    files_[content.get()] = std::move(data);
    ++calls_;
    return content;
  }
  Status Finish() override { return Status::Ok(); }
  const std::string& Data(const indexer::Inode& node) { return files_[node.content.get()]; }
  int calls() const { return calls_; }

 private:
  std::map<const indexer::FileContent*, std::string> files_;
  int calls_ = 0;
};

// Looks up a path (no symlink following); nullptr if missing.
inline std::shared_ptr<indexer::Inode> Lookup(const indexer::FsTree& tree,
                                              const std::string& path) {
  std::shared_ptr<indexer::Inode> node = tree.root;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    auto it = node->children.find(path.substr(i, j - i));
    if (it == node->children.end()) return nullptr;
    node = it->second;
    i = j + 1;
  }
  return node;
}

}  // namespace imgfs::testing
