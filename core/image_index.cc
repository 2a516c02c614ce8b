#include "core/image_index.h"

#include <sys/stat.h>

#include <algorithm>

#include "core/byte_io.h"
#include "core/chunker.h"

namespace imgfs {
namespace {

// Section numbers, in the order of the header's section table (docs/index-format.md).
enum Section { kStrings, kInodes, kDirents, kXattrs, kRefs, kChunks, kPacks, kMetadata, kSections };

constexpr size_t kHeaderSize = 24 + kSections * 16;  // magic, version, flags, size, table
constexpr size_t kTrailerSize = 8;                   // XXH3-64 of all bytes before it
constexpr size_t kInodeSize = 64;
constexpr size_t kDirentSize = 12;
constexpr size_t kXattrSize = 16;
constexpr size_t kRefSize = 16;
constexpr size_t kChunkSize = 56;
constexpr size_t kPackSize = 40;
constexpr size_t kRecordSize[kSections] = {1,        kInodeSize, kDirentSize, kXattrSize,
                                           kRefSize, kChunkSize, kPackSize,   1};
constexpr uint32_t kMaxNameLength = 255;
constexpr uint32_t kMaxLinkTarget = 4096;
constexpr uint32_t kMaxXattrName = 255;
constexpr uint32_t kMaxXattrValue = 65536;

struct InodeData {
  InodeAttrs attrs;
  uint32_t xattr_first = 0, xattr_count = 0;
  uint32_t data_first = 0, data_count = 0;
};

bool ValidType(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
    case S_IFDIR:
    case S_IFLNK:
    case S_IFCHR:
    case S_IFBLK:
    case S_IFIFO:
    case S_IFSOCK:
      return true;
    default:
      return false;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writer

struct ImageIndexWriter::Impl {
  std::string strings;
  std::vector<InodeData> inodes;
  std::string dirents, xattrs, refs, chunks, packs;
  uint32_t dirent_count = 0, xattr_count = 0, ref_count = 0, chunk_count = 0, pack_count = 0;
  std::vector<uint32_t> chunk_lengths;
  std::string metadata;

  std::pair<uint32_t, uint32_t> AddString(std::string_view s) {
    uint32_t off = static_cast<uint32_t>(strings.size());
    strings.append(s);
    return {off, static_cast<uint32_t>(s.size())};
  }
};

ImageIndexWriter::ImageIndexWriter() : impl_(std::make_unique<Impl>()) {}
ImageIndexWriter::~ImageIndexWriter() = default;

uint32_t ImageIndexWriter::AddPack(const PackRecord& pack) {
  PutBytes(impl_->packs, pack.digest.bytes.data(), 32);
  PutU64(impl_->packs, pack.size);
  return impl_->pack_count++;
}

uint32_t ImageIndexWriter::AddChunk(const ChunkRecord& c) {
  std::string& out = impl_->chunks;
  PutBytes(out, c.digest.bytes.data(), 32);
  PutU32(out, c.length);
  PutU32(out, c.stored_length);
  PutU32(out, c.pack);
  PutU32(out, 0);
  PutU64(out, c.pack_offset);
  impl_->chunk_lengths.push_back(c.length);
  return impl_->chunk_count++;
}

uint32_t ImageIndexWriter::AddInode(const InodeAttrs& attrs) {
  impl_->inodes.push_back(InodeData{attrs});
  return static_cast<uint32_t>(impl_->inodes.size() - 1);
}

void ImageIndexWriter::SetXattrs(uint32_t ino,
                                 const std::vector<std::pair<std::string, std::string>>& xattrs) {
  InodeData& node = impl_->inodes[ino];
  node.xattr_first = impl_->xattr_count;
  node.xattr_count = static_cast<uint32_t>(xattrs.size());
  for (const auto& [key, value] : xattrs) {
    auto [koff, klen] = impl_->AddString(key);
    auto [voff, vlen] = impl_->AddString(value);
    PutU32(impl_->xattrs, koff);
    PutU16(impl_->xattrs, static_cast<uint16_t>(klen));
    PutU16(impl_->xattrs, 0);
    PutU32(impl_->xattrs, voff);
    PutU32(impl_->xattrs, vlen);
    impl_->xattr_count++;
  }
}

void ImageIndexWriter::SetSymlinkTarget(uint32_t ino, std::string_view target) {
  auto [off, len] = impl_->AddString(target);
  impl_->inodes[ino].data_first = off;
  impl_->inodes[ino].data_count = len;
}

void ImageIndexWriter::SetFileChunks(uint32_t ino, std::span<const uint32_t> chunk_indexes) {
  InodeData& node = impl_->inodes[ino];
  node.data_first = impl_->ref_count;
  node.data_count = static_cast<uint32_t>(chunk_indexes.size());
  uint64_t offset = 0;
  for (uint32_t c : chunk_indexes) {
    PutU64(impl_->refs, offset);
    PutU32(impl_->refs, c);
    PutU32(impl_->refs, 0);
    offset += impl_->chunk_lengths[c];
    impl_->ref_count++;
  }
}

void ImageIndexWriter::SetDirEntries(uint32_t ino,
                                     std::vector<std::pair<std::string, uint32_t>> entries) {
  std::sort(entries.begin(), entries.end());
  InodeData& node = impl_->inodes[ino];
  node.data_first = impl_->dirent_count;
  node.data_count = static_cast<uint32_t>(entries.size());
  for (const auto& [name, child] : entries) {
    auto [off, len] = impl_->AddString(name);
    PutU32(impl_->dirents, off);
    PutU16(impl_->dirents, static_cast<uint16_t>(std::min<uint32_t>(len, 0xffff)));
    PutU16(impl_->dirents, 0);
    PutU32(impl_->dirents, child);
    impl_->dirent_count++;
  }
}

void ImageIndexWriter::SetMetadata(std::string json) { impl_->metadata = std::move(json); }

Result<std::string> ImageIndexWriter::Finish() {
  std::string inodes;
  inodes.reserve(impl_->inodes.size() * kInodeSize);
  for (const InodeData& n : impl_->inodes) {
    const InodeAttrs& a = n.attrs;
    PutU32(inodes, a.mode);
    PutU32(inodes, a.uid);
    PutU32(inodes, a.gid);
    PutU32(inodes, a.nlink);
    PutU64(inodes, a.size);
    PutU64(inodes, static_cast<uint64_t>(a.mtime_sec));
    PutU32(inodes, a.mtime_nsec);
    PutU32(inodes, a.rdev_major);
    PutU32(inodes, a.rdev_minor);
    PutU32(inodes, n.xattr_first);
    PutU32(inodes, n.xattr_count);
    PutU32(inodes, n.data_first);
    PutU32(inodes, n.data_count);
    PutU32(inodes, 0);
  }
  const std::string* sections[kSections] = {&impl_->strings, &inodes,         &impl_->dirents,
                                            &impl_->xattrs,  &impl_->refs,    &impl_->chunks,
                                            &impl_->packs,   &impl_->metadata};
  std::string out;
  size_t total = kHeaderSize + kTrailerSize;
  for (const std::string* s : sections) total += s->size();
  out.reserve(total);
  PutBytes(out, kIndexMagic, 8);
  PutU32(out, kIndexVersion);
  PutU32(out, 0);
  PutU64(out, total);
  uint64_t offset = kHeaderSize;
  for (int s = 0; s < kSections; ++s) {
    PutU64(out, offset);
    PutU64(out, sections[s]->size() / kRecordSize[s]);
    offset += sections[s]->size();
  }
  for (const std::string* s : sections) out += *s;
  PutU64(out, Xxh3(out.data(), out.size()));
  // Parse it back: the writer never emits an index its own reader would refuse.
  auto parsed = ImageIndex::Parse(out);
  if (!parsed.ok()) return parsed.status().WithContext("internal: built an invalid index");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reader

const uint8_t* ImageIndex::InodeRecord(uint32_t ino) const {
  return Base() + inodes_off_ + uint64_t(ino) * kInodeSize;
}

std::string_view ImageIndex::String(uint32_t off, uint32_t len) const {
  return {bytes_.data() + strings_off_ + off, len};
}

InodeAttrs ImageIndex::Attrs(uint32_t ino) const {
  const uint8_t* p = InodeRecord(ino);
  InodeAttrs a;
  a.mode = LoadU32(p);
  a.uid = LoadU32(p + 4);
  a.gid = LoadU32(p + 8);
  a.nlink = LoadU32(p + 12);
  a.size = LoadU64(p + 16);
  a.mtime_sec = static_cast<int64_t>(LoadU64(p + 24));
  a.mtime_nsec = LoadU32(p + 32);
  a.rdev_major = LoadU32(p + 36);
  a.rdev_minor = LoadU32(p + 40);
  return a;
}

std::string_view ImageIndex::SymlinkTarget(uint32_t ino) const {
  const uint8_t* p = InodeRecord(ino);
  if (!S_ISLNK(LoadU32(p))) return {};
  return String(LoadU32(p + 52), LoadU32(p + 56));
}

std::vector<std::pair<std::string_view, std::string_view>> ImageIndex::Xattrs(uint32_t ino) const {
  const uint8_t* p = InodeRecord(ino);
  uint32_t first = LoadU32(p + 44), count = LoadU32(p + 48);
  std::vector<std::pair<std::string_view, std::string_view>> out;
  out.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* x = Base() + xattrs_off_ + uint64_t(first + i) * kXattrSize;
    out.emplace_back(String(LoadU32(x), LoadU16(x + 4)), String(LoadU32(x + 8), LoadU32(x + 12)));
  }
  return out;
}

uint32_t ImageIndex::DirEntryCount(uint32_t ino) const {
  const uint8_t* p = InodeRecord(ino);
  return S_ISDIR(LoadU32(p)) ? LoadU32(p + 56) : 0;
}

DirEntryView ImageIndex::DirEntry(uint32_t ino, uint32_t i) const {
  const uint8_t* d =
      Base() + dirents_off_ + uint64_t(LoadU32(InodeRecord(ino) + 52) + i) * kDirentSize;
  return {String(LoadU32(d), LoadU16(d + 4)), LoadU32(d + 8)};
}

Result<uint32_t> ImageIndex::Lookup(uint32_t dir_ino, std::string_view name) const {
  uint32_t lo = 0, hi = DirEntryCount(dir_ino);
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    DirEntryView e = DirEntry(dir_ino, mid);
    int c = e.name.compare(name);
    if (c == 0) return e.ino;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return Status::NotFound(std::string(name));
}

uint32_t ImageIndex::FileChunkCount(uint32_t ino) const {
  const uint8_t* p = InodeRecord(ino);
  return S_ISREG(LoadU32(p)) ? LoadU32(p + 56) : 0;
}

FileChunkRef ImageIndex::FileChunk(uint32_t ino, uint32_t i) const {
  const uint8_t* r = Base() + refs_off_ + uint64_t(LoadU32(InodeRecord(ino) + 52) + i) * kRefSize;
  return {LoadU64(r), LoadU32(r + 8)};
}

uint32_t ImageIndex::FindFileChunk(uint32_t ino, uint64_t offset) const {
  uint32_t lo = 0, hi = FileChunkCount(ino);  // last ref with file_offset <= offset
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (FileChunk(ino, mid).file_offset <= offset)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

ChunkRecord ImageIndex::Chunk(uint32_t i) const {
  const uint8_t* c = Base() + chunks_off_ + uint64_t(i) * kChunkSize;
  ChunkRecord r;
  r.digest = Digest::FromBytes(c);
  r.length = LoadU32(c + 32);
  r.stored_length = LoadU32(c + 36);
  r.pack = LoadU32(c + 40);
  r.pack_offset = LoadU64(c + 48);
  return r;
}

PackRecord ImageIndex::Pack(uint32_t i) const {
  const uint8_t* p = Base() + packs_off_ + uint64_t(i) * kPackSize;
  return {Digest::FromBytes(p), LoadU64(p + 32)};
}

std::string_view ImageIndex::metadata() const { return {bytes_.data() + meta_off_, meta_len_}; }

Result<std::shared_ptr<const ImageIndex>> ImageIndex::Parse(std::string bytes) {
  const Digest digest = Sha256(bytes);
  return Parse(std::move(bytes), digest);
}

Result<std::shared_ptr<const ImageIndex>> ImageIndex::Parse(std::string bytes,
                                                            const Digest& digest) {
  std::shared_ptr<ImageIndex> index(new ImageIndex());
  index->bytes_ = std::move(bytes);
  RETURN_IF_ERROR(index->Validate().WithContext("image index"));
  index->digest_ = digest;
  return std::shared_ptr<const ImageIndex>(std::move(index));
}

Status ImageIndex::Validate() {
  const size_t size = bytes_.size();
  if (size < kHeaderSize + kTrailerSize) return Status::Corruption("truncated header");
  if (std::memcmp(Base(), kIndexMagic, 8) != 0) return Status::Corruption("bad magic");
  if (uint32_t v = LoadU32(Base() + 8); v != kIndexVersion)
    return Status::Corruption("unsupported version " + std::to_string(v));
  if (LoadU32(Base() + 12) != 0) return Status::Corruption("unknown flags");
  if (LoadU64(Base() + 16) != size) return Status::Corruption("size field does not match length");
  if (LoadU64(Base() + size - kTrailerSize) != Xxh3(Base(), size - kTrailerSize))
    return Status::Corruption("checksum mismatch");

  const uint64_t body_end = size - kTrailerSize;
  uint64_t off[kSections], count[kSections];
  for (int s = 0; s < kSections; ++s) {
    off[s] = LoadU64(Base() + 24 + 16 * s);
    count[s] = LoadU64(Base() + 24 + 16 * s + 8);
    if (off[s] < kHeaderSize || off[s] > body_end ||
        count[s] > (body_end - off[s]) / kRecordSize[s])
      return Status::Corruption("section " + std::to_string(s) + " out of bounds");
  }
  for (int s : {kInodes, kDirents, kXattrs, kRefs, kChunks, kPacks})
    if (count[s] > UINT32_MAX) return Status::Corruption("table too large");
  strings_off_ = off[kStrings], strings_len_ = count[kStrings];
  inodes_off_ = off[kInodes], inode_count_ = static_cast<uint32_t>(count[kInodes]);
  dirents_off_ = off[kDirents], dirent_count_ = count[kDirents];
  xattrs_off_ = off[kXattrs], xattr_count_ = count[kXattrs];
  refs_off_ = off[kRefs], ref_count_ = count[kRefs];
  chunks_off_ = off[kChunks], chunk_count_ = static_cast<uint32_t>(count[kChunks]);
  packs_off_ = off[kPacks], pack_count_ = static_cast<uint32_t>(count[kPacks]);
  meta_off_ = off[kMetadata], meta_len_ = count[kMetadata];
  if (inode_count_ == 0) return Status::Corruption("no root inode");

  auto string_ok = [&](uint64_t o, uint64_t l) {
    return o <= strings_len_ && l <= strings_len_ - o;
  };

  // A chunk's identity is its digest (and so its length): the read path and the store key
  // chunks by digest, so a table naming one twice could give it two lengths.
  // Sorted by their digests' first 8 bytes (integer compares, not 32-byte ones, on 16-byte
  // elements), so a repeat is next to what it repeats.
  std::vector<std::pair<uint64_t, uint32_t>> seen;
  seen.reserve(chunk_count_);
  for (uint32_t i = 0; i < chunk_count_; ++i) {
    ChunkRecord c = Chunk(i);
    if (c.length == 0 || c.length > kMaxChunkSize || c.stored_length == 0 ||
        c.stored_length > c.length || c.pack >= pack_count_)
      return Status::Corruption("chunk " + std::to_string(i) + " has bad lengths or pack");
    uint64_t pack_size = Pack(c.pack).size;
    if (c.pack_offset > pack_size || c.stored_length > pack_size - c.pack_offset)
      return Status::Corruption("chunk " + std::to_string(i) + " lies outside its pack");
    uint64_t prefix;
    std::memcpy(&prefix, c.digest.bytes.data(), sizeof prefix);
    seen.emplace_back(prefix, i);
  }
  // Equal prefixes (rare, unless an index is made to have them) are ordered by whole digest,
  // then position, so the repeat named is always the first two records of a digest.
  std::sort(seen.begin(), seen.end(), [&](const auto& x, const auto& y) {
    if (x.first != y.first) return x.first < y.first;
    if (x.second == y.second) return false;
    const Digest a = Chunk(x.second).digest, b = Chunk(y.second).digest;
    return a != b ? a < b : x.second < y.second;
  });
  for (size_t i = 1; i < seen.size(); ++i) {
    if (seen[i].first != seen[i - 1].first) continue;
    const Digest d = Chunk(seen[i].second).digest;
    if (d != Chunk(seen[i - 1].second).digest) continue;
    return Status::Corruption("chunk " + std::to_string(seen[i].second) + " repeats chunk " +
                              std::to_string(seen[i - 1].second) + " (" + d.ToString() + ")");
  }
  std::vector<Digest> packs;
  packs.reserve(pack_count_);
  for (uint32_t i = 0; i < pack_count_; ++i) packs.push_back(Pack(i).digest);
  std::sort(packs.begin(), packs.end());
  if (std::adjacent_find(packs.begin(), packs.end()) != packs.end())
    return Status::Corruption("a pack is listed twice");
  for (uint64_t i = 0; i < xattr_count_; ++i) {
    const uint8_t* x = Base() + xattrs_off_ + i * kXattrSize;
    if (LoadU16(x + 4) == 0 || !string_ok(LoadU32(x), LoadU16(x + 4)) ||
        !string_ok(LoadU32(x + 8), LoadU32(x + 12)))
      return Status::Corruption("xattr " + std::to_string(i) + " out of bounds");
    // listxattr separates names with NULs; the kernel takes names up to 255 bytes and values
    // up to 64 KiB.
    std::string_view key = String(LoadU32(x), LoadU16(x + 4));
    if (key.size() > kMaxXattrName || key.find('\0') != std::string_view::npos ||
        LoadU32(x + 12) > kMaxXattrValue)
      return Status::Corruption("xattr " + std::to_string(i) + " has an invalid name or size");
  }

  // Per-inode checks, and reference counts from the directory entries of directories.
  std::vector<uint32_t> refs(inode_count_, 0);
  for (uint32_t ino = 0; ino < inode_count_; ++ino) {
    const uint8_t* p = InodeRecord(ino);
    uint32_t mode = LoadU32(p);
    uint32_t xfirst = LoadU32(p + 44), xcount = LoadU32(p + 48);
    uint32_t first = LoadU32(p + 52), n = LoadU32(p + 56);
    uint64_t fsize = LoadU64(p + 16);
    std::string where = "inode " + std::to_string(ino);
    if (!ValidType(mode)) return Status::Corruption(where + ": bad file type");
    if (uint64_t(xfirst) + xcount > xattr_count_)
      return Status::Corruption(where + ": xattrs out of bounds");
    if (LoadU32(p + 32) >= 1000000000u) return Status::Corruption(where + ": bad mtime");
    if (S_ISDIR(mode)) {
      if (uint64_t(first) + n > dirent_count_)
        return Status::Corruption(where + ": entries out of bounds");
      std::string_view prev;
      for (uint32_t i = 0; i < n; ++i) {
        const uint8_t* d = Base() + dirents_off_ + uint64_t(first + i) * kDirentSize;
        uint32_t noff = LoadU32(d), nlen = LoadU16(d + 4), child = LoadU32(d + 8);
        if (!string_ok(noff, nlen)) return Status::Corruption(where + ": name out of bounds");
        std::string_view name = String(noff, nlen);
        if (nlen == 0 || nlen > kMaxNameLength || name == "." || name == ".." ||
            name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos)
          return Status::Corruption(where + ": invalid entry name");
        if (i > 0 && !(prev < name)) return Status::Corruption(where + ": entries not sorted");
        if (child == 0 || child >= inode_count_)
          return Status::Corruption(where + ": bad child inode");
        prev = name;
        refs[child]++;
      }
    } else if (S_ISREG(mode)) {
      if (uint64_t(first) + n > ref_count_)
        return Status::Corruption(where + ": chunks out of bounds");
      uint64_t expect = 0;
      for (uint32_t i = 0; i < n; ++i) {
        FileChunkRef r = FileChunk(ino, i);
        if (r.chunk >= chunk_count_ || r.file_offset != expect)
          return Status::Corruption(where + ": chunk list inconsistent");
        expect += Chunk(r.chunk).length;
      }
      if (expect != fsize) return Status::Corruption(where + ": chunks do not add up to size");
    } else if (S_ISLNK(mode)) {
      if (n == 0 || n > kMaxLinkTarget || !string_ok(first, n) || fsize != n)
        return Status::Corruption(where + ": bad symlink target");
    } else if (n != 0 || first != 0) {
      return Status::Corruption(where + ": unexpected data");
    }
  }

  // The entries must form a tree rooted at inode 0: every directory but the root has exactly one
  // parent, every other inode has as many entries as its nlink, and everything is reachable.
  if (!S_ISDIR(LoadU32(InodeRecord(0)))) return Status::Corruption("root is not a directory");
  if (refs[0] != 0) return Status::Corruption("root has a parent");
  uint32_t dirs = 0;
  for (uint32_t ino = 0; ino < inode_count_; ++ino) {
    uint32_t mode = LoadU32(InodeRecord(ino));
    if (S_ISDIR(mode)) {
      ++dirs;
      if (ino != 0 && refs[ino] != 1)
        return Status::Corruption("directory " + std::to_string(ino) + " has " +
                                  std::to_string(refs[ino]) + " parents");
    } else if (refs[ino] == 0 || refs[ino] != LoadU32(InodeRecord(ino) + 12)) {
      return Status::Corruption("inode " + std::to_string(ino) +
                                ": link count does not match entries");
    }
  }
  std::vector<uint32_t> stack = {0};
  uint32_t visited = 0;
  while (!stack.empty()) {
    uint32_t dir = stack.back();
    stack.pop_back();
    ++visited;
    for (uint32_t i = 0, n = DirEntryCount(dir); i < n; ++i) {
      uint32_t child = DirEntry(dir, i).ino;
      if (S_ISDIR(LoadU32(InodeRecord(child)))) stack.push_back(child);
    }
    if (visited > dirs) break;
  }
  if (visited != dirs) return Status::Corruption("directories do not form a tree");
  return Status::Ok();
}

}  // namespace imgfs
