#include "imgfs/daemon/image_fs.h"

#include <fcntl.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

namespace imgfs::daemon {

namespace {
constexpr size_t kReadAheadTrigger = 64 * 1024;
constexpr uint64_t kReadAheadBytes = 16u << 20;
}  // namespace

int ErrnoOf(const Status& s) {
  switch (s.code()) {
    case Code::kOk:
      return 0;
    // A chunk found nowhere is a data problem of an open file, not a missing name.
    case Code::kPermissionDenied:
      return EACCES;
    case Code::kResourceExhausted:
      return ENOMEM;
    default:
      return EIO;
  }
}

ImageFs::ImageFs(std::shared_ptr<const ImageIndex> index, ChunkReader& fetcher,
                 remote::RemoteStore* remote, std::shared_ptr<TraceRecorder> trace)
    : index_(std::move(index)), fetcher_(fetcher), remote_(remote), trace_(std::move(trace)) {
  parents_.assign(index_->inode_count(), 0);
  for (uint32_t i = 0; i < index_->inode_count(); ++i) {
    InodeAttrs a = index_->Attrs(i);
    if (S_ISREG(a.mode)) total_bytes_ += a.size;
    for (uint32_t e = 0, n = index_->DirEntryCount(i); e < n; ++e)
      parents_[index_->DirEntry(i, e).ino] = i;
  }
}

int ImageFs::Lookup(uint64_t parent, std::string_view name, uint64_t* ino) const {
  if (!Valid(parent)) return ENOENT;
  if (!S_ISDIR(index_->Attrs(parent - 1).mode)) return ENOTDIR;
  if (name.size() > 255) return ENAMETOOLONG;
  auto found = index_->Lookup(static_cast<uint32_t>(parent - 1), name);
  if (!found.ok()) return ENOENT;
  *ino = *found + 1;
  return 0;
}

int ImageFs::GetAttr(uint64_t ino, struct stat* st) const {
  if (!Valid(ino)) return ENOENT;
  InodeAttrs a = index_->Attrs(static_cast<uint32_t>(ino - 1));
  std::memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = a.mode;
  st->st_nlink = a.nlink;
  st->st_uid = a.uid;
  st->st_gid = a.gid;
  st->st_size = static_cast<off_t>(a.size);
  st->st_rdev = makedev(a.rdev_major, a.rdev_minor);
  st->st_blksize = 4096;
  st->st_blocks = static_cast<blkcnt_t>((a.size + 511) / 512);
  st->st_mtim = {a.mtime_sec, a.mtime_nsec};
  st->st_atim = st->st_mtim;
  st->st_ctim = st->st_mtim;
  return 0;
}

int ImageFs::ReadLink(uint64_t ino, std::string_view* target) const {
  if (!Valid(ino)) return ENOENT;
  if (!S_ISLNK(index_->Attrs(ino - 1).mode)) return EINVAL;
  *target = index_->SymlinkTarget(static_cast<uint32_t>(ino - 1));
  return 0;
}

int ImageFs::DirSize(uint64_t ino, uint32_t* count) const {
  if (!Valid(ino)) return ENOENT;
  if (!S_ISDIR(index_->Attrs(ino - 1).mode)) return ENOTDIR;
  *count = index_->DirEntryCount(static_cast<uint32_t>(ino - 1));
  return 0;
}

void ImageFs::DirEntry(uint64_t ino, uint32_t i, std::string_view* name, uint64_t* child) const {
  DirEntryView e = index_->DirEntry(static_cast<uint32_t>(ino - 1), i);
  *name = e.name;
  *child = uint64_t{e.ino} + 1;
}

int ImageFs::CheckOpen(uint64_t ino, int flags) const {
  if (!Valid(ino)) return ENOENT;
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_APPEND | O_CREAT))) return EROFS;
  InodeAttrs a = index_->Attrs(static_cast<uint32_t>(ino - 1));
  if (S_ISDIR(a.mode)) return EISDIR;
  if (!S_ISREG(a.mode)) return EINVAL;
  return 0;
}

int ImageFs::Read(uint64_t ino, uint64_t offset, size_t size, std::string* out) {
  std::vector<Slice> slices;
  out->clear();
  int err = Read(ino, offset, size, &slices);
  if (err) return err;
  for (const Slice& s : slices) out->append(*s.bytes, s.offset, s.length);
  return 0;
}

int ImageFs::Read(uint64_t ino, uint64_t offset, size_t size, std::vector<Slice>* out) {
  out->clear();
  if (!Valid(ino)) return ENOENT;
  const uint32_t node = static_cast<uint32_t>(ino - 1);
  InodeAttrs a = index_->Attrs(node);
  if (!S_ISREG(a.mode)) return EINVAL;
  metrics_.reads++;
  if (offset >= a.size || size == 0) return 0;
  const uint64_t end = std::min<uint64_t>(a.size, offset + size);
  uint64_t served = 0;
  // One budget for the whole request: Ensure and each Get share its deadline.
  RequestBudget budget = fetcher_.NewRequestBudget();
  if (remote_) {
    // Missing chunks of this read come in as few range requests as their layout allows.
    std::vector<uint32_t> wanted;
    for (uint32_t i = index_->FindFileChunk(node, offset), n = index_->FileChunkCount(node); i < n;
         ++i) {
      FileChunkRef ref = index_->FileChunk(node, i);
      if (ref.file_offset >= end) break;
      wanted.push_back(ref.chunk);
    }
    fetcher_.Ensure(*index_, wanted, remote_, metrics_, budget);
  }
  for (uint32_t i = index_->FindFileChunk(node, offset); offset < end; ++i) {
    FileChunkRef ref = index_->FileChunk(node, i);
    const ChunkRecord rec = index_->Chunk(ref.chunk);
    if (trace_) trace_->Record(rec.digest);
    auto bytes = fetcher_.Get(*index_, ref.chunk, remote_, metrics_, budget);
    // The index was validated (the refs tile the file, each chunk its record's length), so a
    // chunk of the record's length covers `offset`; anything else is refused, never sliced.
    const uint64_t from = offset - ref.file_offset;
    if (bytes.ok() && ((*bytes)->size() != rec.length || from >= rec.length))
      bytes = Status::Corruption("chunk " + rec.digest.ToString() +
                                 " is not the length its record gives");
    if (!bytes.ok()) {
      metrics_.read_errors++;
      out->clear();
      return ErrnoOf(bytes.status());
    }
    uint64_t n = std::min<uint64_t>(rec.length - from, end - offset);
    out->push_back({std::move(*bytes), from, n});
    offset += n;
    served += n;
  }
  metrics_.bytes_served += served;
  // A large read is most likely sequential.
  if (size >= kReadAheadTrigger) ReadAhead(node, end);
  return 0;
}

void ImageFs::ReadAhead(uint32_t node, uint64_t end) {
  // The next kReadAheadBytes of the file, asked for in steps of half of that, so a sequential
  // reader asks for each chunk once.
  uint64_t from, to;
  {
    std::lock_guard<std::mutex> lock(ahead_mu_);
    if (ahead_.size() > 4096) ahead_.clear();  // many files read at once: start over
    uint64_t& asked = ahead_[node];
    if (asked < end || asked > end + kReadAheadBytes) asked = end;  // a jump: start from here
    if (asked >= end + kReadAheadBytes / 2) return;
    from = asked;
    to = asked = end + kReadAheadBytes;
  }
  std::vector<uint32_t> next;
  for (uint32_t i = index_->FindFileChunk(node, from), n = index_->FileChunkCount(node); i < n;
       ++i) {
    FileChunkRef ref = index_->FileChunk(node, i);
    if (ref.file_offset >= to) break;
    if (ref.file_offset + index_->Chunk(ref.chunk).length > from) next.push_back(ref.chunk);
  }
  fetcher_.WarmLocal(index_, std::move(next));
}

int ImageFs::GetXattr(uint64_t ino, std::string_view name, std::string* value) const {
  if (!Valid(ino)) return ENOENT;
  for (const auto& [key, v] : index_->Xattrs(static_cast<uint32_t>(ino - 1))) {
    if (key == name) {
      value->assign(v);
      return 0;
    }
  }
  return ENODATA;
}

int ImageFs::ListXattr(uint64_t ino, std::string* names) const {
  if (!Valid(ino)) return ENOENT;
  names->clear();
  for (const auto& [key, v] : index_->Xattrs(static_cast<uint32_t>(ino - 1))) {
    names->append(key);
    names->push_back('\0');
  }
  return 0;
}

void ImageFs::StatFs(struct statvfs* st) const {
  std::memset(st, 0, sizeof *st);
  st->f_bsize = 4096;
  st->f_frsize = 4096;
  st->f_blocks = (total_bytes_ + 4095) / 4096;
  st->f_files = index_->inode_count();
  st->f_namemax = 255;
  st->f_flag = ST_RDONLY;
}

std::vector<uint32_t> ImageFs::ChunksOf(const std::vector<Digest>& digests) const {
  std::unordered_map<Digest, uint32_t, DigestHash> by_digest;
  by_digest.reserve(index_->chunk_count());
  for (uint32_t c = 0; c < index_->chunk_count(); ++c)
    by_digest.emplace(index_->Chunk(c).digest, c);
  std::vector<uint32_t> out;
  for (const Digest& d : digests)
    if (auto it = by_digest.find(d); it != by_digest.end()) out.push_back(it->second);
  return out;
}

Status ImageFs::Prefetch(const std::vector<uint32_t>& chunks) {
  // No deadline (a long trace takes as long as it takes), but a remote that failed ends it.
  RequestBudget budget;
  fetcher_.Ensure(*index_, chunks, remote_, metrics_, budget);
  Status first;
  for (uint32_t c : chunks) {
    Status s = fetcher_.Get(*index_, c, remote_, metrics_, budget).status();
    if (first.ok() && !s.ok()) first = s;
    metrics_.prefetch_done++;
  }
  return first;
}

}  // namespace imgfs::daemon
