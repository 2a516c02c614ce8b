// Test helpers for the daemon's read path: a RemoteStore fake that holds blobs in memory, counts
// every call and can inject failures, delays, hangs (on a fake clock), held calls and wrong
// bytes; a builder for small images whose packs live in that fake; a hostile index that lies
// about a chunk's length; a scratch directory for a real LocalStore. Test-only; the fake remote
// is thread-safe, the builders are not.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/chunk_codec.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/image_index.h"
#include "imgfs/remote_store.h"

namespace imgfs::testing {

// Incompressible bytes: stored raw, so stored length == raw length.
inline std::string NoiseBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Compressible bytes: stored zstd-compressed, much shorter than raw.
inline std::string TextBytes(size_t n, uint64_t seed) {
  std::string s;
  for (uint64_t i = 0; s.size() < n; ++i) s += "line " + std::to_string(i * 7919 + seed) + "\n";
  s.resize(n);
  return s;
}

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "imgfs-daemon-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One ReadBlobRange call as the fake saw it.
struct RangeRequest {
  Digest blob;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// An in-memory remote. Counts calls; can be made unavailable, slow, or to return wrong bytes
// for a byte of a pack (every range covering that byte gets it flipped). Thread-safe.
class FakeRemote : public remote::RemoteStore {
 public:
  std::string Describe() const override { return "fake://remote"; }

  Result<std::string> ReadBlobRange(const Digest& digest, uint64_t offset,
                                    uint64_t length) override {
    std::chrono::milliseconds delay;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++calls_;
      ranges_.push_back({digest, offset, length});
      delay = delay_;
      if (hold_) {
        ++held_;
        cv_.notify_all();
        cv_.wait(lock, [&] { return !hold_; });
        --held_;
      }
      if (hang_clock_) {
        // What a remote whose every attempt times out does, on the fake clock.
        hang_clock_->Advance(hang_for_);
        return Status::Unavailable("fake remote timed out (4 attempts)");
      }
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    std::lock_guard<std::mutex> lock(mu_);
    if (unavailable_) return Status::Unavailable("fake remote is down");
    auto it = blobs_.find(digest);
    if (it == blobs_.end()) return Status::NotFound("no blob " + digest.ToString());
    const std::string& blob = it->second;
    if (offset > blob.size() || length > blob.size() - offset)
      return Status::Corruption("range past the end of " + digest.ToString());
    std::string out = blob.substr(offset, length);
    for (Injection& inj : injections_) {
      if (inj.blob != digest || inj.times == 0 || inj.offset < offset ||
          inj.offset >= offset + length)
        continue;
      out[inj.offset - offset] ^= 0x5a;
      if (inj.times > 0) --inj.times;
    }
    range_bytes_ += out.size();
    return out;
  }

  // ReadBlobRange handed over in one piece, or in two (split `split_at` bytes in) with
  // between_pieces() called after the first, when SplitStreams set that.
  Status StreamBlobRange(const Digest& digest, uint64_t offset, uint64_t length,
                         const std::function<Status(std::string_view)>& sink) override {
    ASSIGN_OR_RETURN(std::string bytes, ReadBlobRange(digest, offset, length));
    if (!between_pieces_ || split_at_ >= bytes.size()) return sink(bytes);
    RETURN_IF_ERROR(sink(std::string_view(bytes).substr(0, split_at_)));
    between_pieces_();
    return sink(std::string_view(bytes).substr(split_at_));
  }

  Result<std::string> ReadBlob(const Digest& digest, uint64_t max_size) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (unavailable_) return Status::Unavailable("fake remote is down");
    auto it = blobs_.find(digest);
    if (it == blobs_.end()) return Status::NotFound("no blob " + digest.ToString());
    if (it->second.size() > max_size) return Status::ResourceExhausted("blob too large");
    return it->second;
  }

  Status WriteBlob(const Digest& digest, std::string_view data) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (unavailable_) return Status::Unavailable("fake remote is down");
    blobs_.emplace(digest, std::string(data));
    return Status::Ok();
  }

  Result<bool> HasBlob(const Digest& digest) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (unavailable_) return Status::Unavailable("fake remote is down");
    return blobs_.count(digest) > 0;
  }

  Result<std::string> ReadCompressedIndex(const Digest& index_digest, uint64_t max_size) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (unavailable_) return Status::Unavailable("fake remote is down");
    auto it = frames_.find(index_digest);
    if (it == frames_.end()) return Status::NotFound("no compressed index");
    if (it->second.size() > max_size) return Status::ResourceExhausted("frame too large");
    return it->second;
  }

  Result<bool> HasCompressedIndex(const Digest& index_digest) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (unavailable_) return Status::Unavailable("fake remote is down");
    return frames_.count(index_digest) > 0;
  }

  Status WriteCompressedIndex(const Digest& index_digest, std::string_view frame) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (unavailable_) return Status::Unavailable("fake remote is down");
    frames_[index_digest] = std::string(frame);
    return Status::Ok();
  }

  Result<std::string> ReadTrace(const Digest& index_digest, uint64_t max_size) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (unavailable_) return Status::Unavailable("fake remote is down");
    auto it = traces_.find(index_digest);
    if (it == traces_.end()) return Status::NotFound("no trace");
    return it->second;
  }

  Status WriteTrace(const Digest& index_digest, std::string_view data) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    traces_[index_digest] = std::string(data);
    return Status::Ok();
  }

  // Test controls.
  void PutBlob(const std::string& data) {
    std::lock_guard<std::mutex> lock(mu_);
    blobs_[Sha256(data)] = data;
  }
  void SetUnavailable(bool down) {
    std::lock_guard<std::mutex> lock(mu_);
    unavailable_ = down;
  }
  void SetDelay(std::chrono::milliseconds delay) {
    std::lock_guard<std::mutex> lock(mu_);
    delay_ = delay;
  }
  // Every range read advances `clock` by `d` and fails as unavailable (null: stop hanging).
  void SetHang(FakeClock* clock, Clock::duration d) {
    std::lock_guard<std::mutex> lock(mu_);
    hang_clock_ = clock;
    hang_for_ = d;
  }
  // Range reads block from now until Release(); WaitForHeld(n) returns once n are blocked.
  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
  }
  void WaitForHeld(int n = 1) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return held_ >= n; });
  }
  int held() const {
    std::lock_guard<std::mutex> lock(mu_);
    return held_;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = false;
    cv_.notify_all();
  }
  // Streamed ranges come in two pieces from now on, split `at` bytes in, with `between` run
  // after the first. REQUIRES: no range read is running.
  void SplitStreams(uint64_t at, std::function<void()> between) {
    split_at_ = at;
    between_pieces_ = std::move(between);
  }
  // The next `times` ranges covering byte `offset` of `blob` get it flipped; -1: every range.
  void InjectWrongByte(const Digest& blob, uint64_t offset, int times) {
    std::lock_guard<std::mutex> lock(mu_);
    injections_.push_back({blob, offset, times});
  }
  void ResetCounters() {
    std::lock_guard<std::mutex> lock(mu_);
    calls_ = 0;
    range_bytes_ = 0;
    ranges_.clear();
  }

  int calls() const {  // every call of any method
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  int range_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(ranges_.size());
  }
  uint64_t range_bytes() const {  // bytes returned by successful range reads
    std::lock_guard<std::mutex> lock(mu_);
    return range_bytes_;
  }
  std::vector<RangeRequest> ranges() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ranges_;
  }

 private:
  struct Injection {
    Digest blob;
    uint64_t offset;
    int times;
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  int held_ = 0;
  FakeClock* hang_clock_ = nullptr;
  Clock::duration hang_for_{};
  std::map<Digest, std::string> blobs_;
  std::map<Digest, std::string> traces_;
  std::map<Digest, std::string> frames_;  // compressed indexes, by index digest
  uint64_t split_at_ = 0;                 // set while no range read runs
  std::function<void()> between_pieces_;  // likewise
  std::vector<RangeRequest> ranges_;
  std::vector<Injection> injections_;
  int calls_ = 0;
  uint64_t range_bytes_ = 0;
  bool unavailable_ = false;
  std::chrono::milliseconds delay_{0};
};

// Builds a small image: chunks go into the current pack in the order added (so chunk numbers
// and pack offsets both ascend), inodes form a tree under the root (inode 0).
class ImageBuilder {
 public:
  ImageBuilder() {
    packs_.emplace_back();
    InodeAttrs root;
    root.mode = S_IFDIR | 0755;
    nodes_.emplace_back().attrs = root;
  }

  // Appends a chunk to the current pack; returns its chunk number.
  uint32_t AddChunk(std::string raw) {
    std::string stored = EncodeChunk({reinterpret_cast<const uint8_t*>(raw.data()), raw.size()});
    ChunkRecord r;
    r.digest = Sha256(raw);
    r.length = static_cast<uint32_t>(raw.size());
    r.stored_length = static_cast<uint32_t>(stored.size());
    r.pack = static_cast<uint32_t>(packs_.size() - 1);
    r.pack_offset = packs_.back().size();
    packs_.back() += stored;
    chunks_.push_back(r);
    raw_.push_back(std::move(raw));
    return static_cast<uint32_t>(chunks_.size() - 1);
  }
  // Later chunks go into a new pack.
  void StartPack() { packs_.emplace_back(); }

  uint32_t AddDir(uint32_t parent, const std::string& name, uint32_t mode = 0755) {
    InodeAttrs a;
    a.mode = S_IFDIR | mode;
    a.nlink = 2;
    return AddNode(parent, name, a);
  }
  uint32_t AddFile(uint32_t parent, const std::string& name, std::vector<uint32_t> chunks,
                   uint32_t mode = 0644) {
    InodeAttrs a;
    a.mode = S_IFREG | mode;
    a.uid = 1000;
    a.gid = 100;
    a.mtime_sec = 1700000000;
    a.mtime_nsec = 42;
    for (uint32_t c : chunks) a.size += chunks_[c].length;
    uint32_t ino = AddNode(parent, name, a);
    nodes_[ino].chunks = std::move(chunks);
    return ino;
  }
  uint32_t AddSymlink(uint32_t parent, const std::string& name, const std::string& target) {
    InodeAttrs a;
    a.mode = S_IFLNK | 0777;
    a.size = target.size();
    uint32_t ino = AddNode(parent, name, a);
    nodes_[ino].target = target;
    return ino;
  }
  // Another name for an existing non-directory.
  void AddHardlink(uint32_t parent, const std::string& name, uint32_t ino) {
    nodes_[parent].entries.emplace_back(name, ino);
    nodes_[ino].attrs.nlink++;
  }
  void SetXattrs(uint32_t ino, std::vector<std::pair<std::string, std::string>> xattrs) {
    nodes_[ino].xattrs = std::move(xattrs);
  }

  // Writes the index and puts every pack into `remote` (when given).
  std::shared_ptr<const ImageIndex> Finish(FakeRemote* remote) {
    ImageIndexWriter w;
    for (const std::string& p : packs_) w.AddPack({Sha256(p), p.size()});
    for (const ChunkRecord& c : chunks_) w.AddChunk(c);
    for (const Node& n : nodes_) w.AddInode(n.attrs);
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
      const Node& n = nodes_[i];
      if (S_ISDIR(n.attrs.mode)) w.SetDirEntries(i, n.entries);
      if (S_ISREG(n.attrs.mode)) w.SetFileChunks(i, n.chunks);
      if (S_ISLNK(n.attrs.mode)) w.SetSymlinkTarget(i, n.target);
      if (!n.xattrs.empty()) w.SetXattrs(i, n.xattrs);
    }
    auto bytes = w.Finish();
    if (!bytes.ok()) {
      ADD_FAILURE() << "index: " << bytes.status().ToString();
      return nullptr;
    }
    auto index = ImageIndex::Parse(*bytes);
    if (!index.ok()) {
      ADD_FAILURE() << "index: " << index.status().ToString();
      return nullptr;
    }
    if (remote)
      for (const std::string& p : packs_) remote->PutBlob(p);
    return *index;
  }

  const std::string& raw(uint32_t chunk) const { return raw_[chunk]; }
  // The stored form of a chunk, as its pack holds it.
  std::string stored(uint32_t chunk) const {
    const ChunkRecord& r = chunks_[chunk];
    return packs_[r.pack].substr(r.pack_offset, r.stored_length);
  }
  // The bytes of a file made of `chunks`.
  std::string Contents(const std::vector<uint32_t>& chunks) const {
    std::string out;
    for (uint32_t c : chunks) out += raw_[c];
    return out;
  }

 private:
  struct Node {
    InodeAttrs attrs;
    std::vector<std::pair<std::string, uint32_t>> entries;
    std::vector<uint32_t> chunks;
    std::string target;
    std::vector<std::pair<std::string, std::string>> xattrs;
  };
  uint32_t AddNode(uint32_t parent, const std::string& name, const InodeAttrs& attrs) {
    nodes_.emplace_back().attrs = attrs;
    uint32_t ino = static_cast<uint32_t>(nodes_.size() - 1);
    nodes_[parent].entries.emplace_back(name, ino);
    return ino;
  }

  std::vector<std::string> packs_;
  std::vector<ChunkRecord> chunks_;
  std::vector<std::string> raw_;
  std::vector<Node> nodes_;
};

// A hostile index, self-consistent (its checksum is right): one file "f" of one chunk that
// claims digest `digest` with `length` bytes, stored raw in a pack of `length` junk bytes (put
// into `remote` when given).
inline std::shared_ptr<const ImageIndex> LyingIndex(const Digest& digest, uint32_t length,
                                                    FakeRemote* remote) {
  const std::string pack(length, 'J');
  ImageIndexWriter w;
  w.AddPack({Sha256(pack), pack.size()});
  uint32_t c = w.AddChunk({digest, length, length, 0, 0});
  w.AddInode({S_IFDIR | 0755});
  InodeAttrs f;
  f.mode = S_IFREG | 0644;
  f.size = length;
  uint32_t ino = w.AddInode(f);
  w.SetDirEntries(0, {{"f", ino}});
  uint32_t chunks[] = {c};
  w.SetFileChunks(ino, chunks);
  auto bytes = w.Finish();
  if (!bytes.ok()) {
    ADD_FAILURE() << "lying index: " << bytes.status().ToString();
    return nullptr;
  }
  auto index = ImageIndex::Parse(*bytes);
  if (!index.ok()) {
    ADD_FAILURE() << "lying index: " << index.status().ToString();
    return nullptr;
  }
  if (remote) remote->PutBlob(pack);
  return *index;
}

}  // namespace imgfs::testing
