#include "imgfs/local_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <unordered_set>

#include "core/byte_io.h"
#include "core/fd.h"
#include "core/log.h"
#include "imgfs/data_files.h"

namespace imgfs::store {
namespace {

// Reads for a scan of a whole column family (every chunk record: ~2 MB for a node with a few
// images): large read-ahead, not RocksDB's 4 KiB block at a time, which from a cold page cache
// is ~500 disk reads in a row at every daemon start (the cache's LRU is loaded from it); and the
// blocks are not kept in the block cache, which a scan would flush.
rocksdb::ReadOptions ScanOptions() {
  rocksdb::ReadOptions ro;
  ro.readahead_size = 4u << 20;
  ro.fill_cache = false;
  return ro;
}

// "index_keys" holds the digest of every index in "indexes", with an empty value: listing the
// indexes iterates it, because RocksDB 7's iterators read each blob value (a whole index, MBs)
// as they reach its key. Stores written before it have the family filled once at the first
// writable open; kIndexKeysComplete in "default" says that happened.
enum Family { kDefault, kChunks, kChunkMeta, kIndexes, kRefs, kTraces, kIndexKeys, kFamilies };
const char* const kFamilyNames[kFamilies] = {"default", "chunks", "chunk_meta", "indexes",
                                             "refs",    "traces", "index_keys"};
constexpr const char* kIndexKeysComplete = "index_keys complete";
// "converted " + an index digest in "default": that index was made by a conversion into this
// store (PublishIndex with Origin::kConverted). Older versions ignore the key.
std::string ConvertedKey(const Digest& index) { return "converted " + index.ToString(); }

// Chunk records in "chunk_meta": raw length u32, stored length u32, flags u8, then for chunks in
// the data files: file u32, offset u64, XXH3-64 of the stored bytes u64. Chunks stored in fewer
// than kInFileMin bytes (most compressed ones) stay in RocksDB's "chunks", XXH3-64 first, then
// the bytes: a 4 KiB-aligned extent would waste a third of their space, and they are decoded
// into memory anyway. Stores written before the data files have every chunk there.
constexpr uint8_t kCachedFlag = 1;
constexpr uint8_t kInFileFlag = 2;
constexpr size_t kMetaLength = 29;
constexpr size_t kRecordHeader = 8;
constexpr size_t kInFileMin = 16 * 1024;

struct ChunkMeta {
  uint32_t raw = 0, stored = 0;
  uint8_t flags = 0;
  DataFiles::Extent extent;
  uint64_t xxh3 = 0;
  bool cached() const { return flags & kCachedFlag; }
  bool in_file() const { return flags & kInFileFlag; }
};

std::string EncodeMeta(const ChunkMeta& m) {
  std::string out;
  PutU32(out, m.raw);
  PutU32(out, m.stored);
  PutU8(out, m.flags);
  if (!m.in_file()) return out;
  PutU32(out, m.extent.file);
  PutU64(out, m.extent.offset);
  PutU64(out, m.xxh3);
  return out;
}

bool DecodeMeta(std::string_view v, ChunkMeta* m) {
  if (v.size() < 8) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  m->raw = LoadU32(p);
  m->stored = LoadU32(p + 4);
  m->flags = v.size() > 8 ? p[8] : 0;
  if (!m->in_file()) return v.size() <= 9;
  if (v.size() != kMetaLength) return false;
  m->extent = {LoadU32(p + 9), LoadU64(p + 13), m->stored};
  m->xxh3 = LoadU64(p + 21);
  return true;
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsNotFound()) return Status::NotFound(what);
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain())
    return Status::Unavailable(what + ": " + s.ToString());
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
    return Status::Unavailable(what + ": store is in use by another process (" + s.ToString() +
                               ")");
  return Status::IOError(what + ": " + s.ToString());
}

rocksdb::Slice DigestKey(const Digest& d) {
  return {reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size()};
}

// A writable file or directory whose syncs do nothing while *defer is set (see
// PrivateFileSystem::DeferSyncs).
class DeferrableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  DeferrableFile(std::unique_ptr<rocksdb::FSWritableFile> file, const std::atomic<bool>* defer)
      : FSWritableFileOwnerWrapper(std::move(file)), defer_(defer) {}
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    return *defer_ ? rocksdb::IOStatus::OK() : target()->Sync(o, d);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    return *defer_ ? rocksdb::IOStatus::OK() : target()->Fsync(o, d);
  }
  rocksdb::IOStatus RangeSync(uint64_t offset, uint64_t n, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* d) override {
    return *defer_ ? rocksdb::IOStatus::OK() : target()->RangeSync(offset, n, o, d);
  }

 private:
  const std::atomic<bool>* defer_;
};

class DeferrableDirectory : public rocksdb::FSDirectoryWrapper {
 public:
  DeferrableDirectory(std::unique_ptr<rocksdb::FSDirectory> dir, const std::atomic<bool>* defer)
      : FSDirectoryWrapper(std::move(dir)), defer_(defer) {}
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    return *defer_ ? rocksdb::IOStatus::OK() : FSDirectoryWrapper::Fsync(o, d);
  }
  rocksdb::IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d,
                                        const rocksdb::DirFsyncOptions& f) override {
    return *defer_ ? rocksdb::IOStatus::OK() : FSDirectoryWrapper::FsyncWithDirOptions(o, d, f);
  }

 private:
  const std::atomic<bool>* defer_;
};

// RocksDB's file system, with every file RocksDB creates made 0600 and every directory 0700: it
// creates them 0644 and 0755 (less the umask), and its files hold the content of small files of
// every image. (The store directory is 0700 already, so the moment between creation and chmod
// exposes nothing.)
class PrivateFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit PrivateFileSystem(const std::shared_ptr<rocksdb::FileSystem>& target)
      : FileSystemWrapper(target) {}
  static const char* kClassName() { return "ImgfsPrivateFileSystem"; }
  const char* Name() const override { return kClassName(); }

  // While set, syncs of files and directories do nothing. A store is created with it set:
  // RocksDB makes its column families one at a time, and synced a MANIFEST record, an OPTIONS
  // file and the directory for each, ~25 syncs (~40 ms of a new node's first mount);
  // LocalStore::Open syncs the new files once instead (CreationGuard).
  void DeferSyncs(bool on) { defer_ = on; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* d) override {
    return Deferrable(r, Private(f, 0600, target()->NewWritableFile(f, o, r, d)));
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* d) override {
    return Deferrable(r, Private(f, 0600, target()->ReopenWritableFile(f, o, r, d)));
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* d) override {
    return Deferrable(r, Private(f, 0600, target()->ReuseWritableFile(f, old, o, r, d)));
  }
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& o,
                                 std::unique_ptr<rocksdb::FSDirectory>* r,
                                 rocksdb::IODebugContext* d) override {
    rocksdb::IOStatus s = target()->NewDirectory(name, o, r, d);
    if (s.ok()) *r = std::make_unique<DeferrableDirectory>(std::move(*r), &defer_);
    return s;
  }
  rocksdb::IOStatus NewRandomRWFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* r,
                                    rocksdb::IODebugContext* d) override {
    return Private(f, 0600, target()->NewRandomRWFile(f, o, r, d));
  }
  rocksdb::IOStatus NewLogger(const std::string& f, const rocksdb::IOOptions& o,
                              std::shared_ptr<rocksdb::Logger>* r,
                              rocksdb::IODebugContext* d) override {
    return Private(f, 0600, target()->NewLogger(f, o, r, d));
  }
  rocksdb::IOStatus LockFile(const std::string& f, const rocksdb::IOOptions& o,
                             rocksdb::FileLock** l, rocksdb::IODebugContext* d) override {
    return Private(f, 0600, target()->LockFile(f, o, l, d));
  }
  rocksdb::IOStatus CreateDir(const std::string& f, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* d) override {
    return Private(f, 0700, target()->CreateDir(f, o, d));
  }
  rocksdb::IOStatus CreateDirIfMissing(const std::string& f, const rocksdb::IOOptions& o,
                                       rocksdb::IODebugContext* d) override {
    return Private(f, 0700, target()->CreateDirIfMissing(f, o, d));
  }

 private:
  static rocksdb::IOStatus Private(const std::string& path, mode_t mode, rocksdb::IOStatus s) {
    if (s.ok() && ::chmod(path.c_str(), mode) != 0)
      return rocksdb::IOStatus::IOError("chmod " + path, std::strerror(errno));
    return s;
  }
  rocksdb::IOStatus Deferrable(std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IOStatus s) {
    if (s.ok()) *r = std::make_unique<DeferrableFile>(std::move(*r), &defer_);
    return s;
  }

  std::atomic<bool> defer_{false};
};

// The files RocksDB makes when it creates a database (and so the ones a creation that did not
// finish may have left).
bool IsCreationFile(const std::string& name) {
  auto digits_then = [&](const std::string& suffix) {
    return name.size() > suffix.size() && name.ends_with(suffix) &&
           name.find_first_not_of("0123456789") == name.size() - suffix.size();
  };
  return name == "CURRENT" || name == "IDENTITY" || name == "LOCK" ||
         name.starts_with("MANIFEST-") || name.starts_with("OPTIONS-") ||
         name.ends_with(".dbtmp") || digits_then(".log");
}

// Creating a store durably with one sync per file (PrivateFileSystem::DeferSyncs). A marker,
// CREATING, is made durable before RocksDB writes anything and removed once what it wrote is
// synced; a store that still has it was never finished (nothing can have been stored in it),
// so its RocksDB files are removed and it is created anew. Creators hold an flock on the store
// directory from the check to the end, so a second process (two first mounts at once) waits for
// the first one's creation instead of taking its files for leftovers.
class CreationGuard {
 public:
  explicit CreationGuard(const std::string& path) : path_(path), marker_(path + "/CREATING") {}

  // Whether PATH needs creating: no database yet, or one whose creation did not finish. Takes
  // the creators' lock first when it might (and keeps it until the guard goes).
  Result<bool> Needed() {
    if (!Unfinished()) return false;
    ASSIGN_OR_RETURN(lock_, OpenFile(path_, O_RDONLY | O_DIRECTORY));
    if (RetryOnEintr([&] { return ::flock(lock_.get(), LOCK_EX); }) != 0)
      return Status::FromErrno(errno, "lock " + path_);
    return Unfinished();  // another process may have finished it meanwhile
  }

  // Removes what an unfinished creation left and puts the marker down (synced).
  Status Begin() {
    if (::access(marker_.c_str(), F_OK) == 0) {
      ASSIGN_OR_RETURN(std::vector<std::string> names, CreationFiles());
      for (const std::string& n : names)
        if (::unlink((path_ + "/" + n).c_str()) != 0 && errno != ENOENT)
          return Status::FromErrno(errno, "remove " + path_ + "/" + n);
      IMGFS_LOG(Warning) << "store " << path_ << ": its creation did not finish; created anew";
    }
    RETURN_IF_ERROR(WriteFileAtomic(marker_, "", 0600));
    return SyncDirectory();
  }

  // Syncs every file the creation made and the directory, then removes the marker.
  Status Finish() {
    ASSIGN_OR_RETURN(std::vector<std::string> names, CreationFiles());
    for (const std::string& n : names) {
      if (n == "LOCK") continue;
      ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path_ + "/" + n, O_RDONLY));
      if (::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync " + path_ + "/" + n);
    }
    RETURN_IF_ERROR(SyncDirectory());
    if (::unlink(marker_.c_str()) != 0) return Status::FromErrno(errno, "remove " + marker_);
    return SyncDirectory();
  }

 private:
  bool Unfinished() const {
    return ::access((path_ + "/CURRENT").c_str(), F_OK) != 0 ||
           ::access(marker_.c_str(), F_OK) == 0;
  }
  Result<std::vector<std::string>> CreationFiles() const {
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path_.c_str()), ::closedir);
    if (!dir) return Status::FromErrno(errno, "list " + path_);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(dir.get()))
      if (e->d_type == DT_REG && IsCreationFile(e->d_name)) names.emplace_back(e->d_name);
    return names;
  }
  Status SyncDirectory() const {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path_, O_RDONLY | O_DIRECTORY));
    if (::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync " + path_);
    return Status::Ok();
  }

  const std::string path_, marker_;
  UniqueFd lock_;
};

// RocksDB's own log goes to ours (stderr, or the daemon's log) instead of a LOG file in the
// store: no further file to keep private, and RocksDB's file logger aborts the process when
// it writes again after a full disk failed a write.
// Its errors are our warnings; its warnings (a store busy in another process, a write that
// failed and is being recovered) our debug lines, since the caller reports what matters.
class RocksLogger : public rocksdb::Logger {
 public:
  RocksLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::WARN_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[1024];
    std::vsnprintf(line, sizeof line, format, ap);
    if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL) {
      IMGFS_LOG(Warning) << "rocksdb: " << line;
    } else {
      IMGFS_LOG(Debug) << "rocksdb: " << line;
    }
  }
};

// After a write failed for lack of space, RocksDB stops writing and, left alone, recovers only
// once as much space is free as its largest write buffer (128 MiB here) and refuses DB::Resume()
// until then: a nearly full disk stays stuck. Its automatic recovery is turned off; the store
// resumes the database itself at the next write (Impl::Write), which works as soon as that
// write fits.
class ManualRecovery : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status,
                            bool* auto_recovery) override {
    *auto_recovery = false;
  }
};

// The store is its owner's alone: the directory and data/ 0700, every file 0600 (a store made
// by an older version, or a directory created beforehand, may be wider). Refuses a store
// directory owned by another user: its owner could read or swap what this process writes.
Status MakePrivate(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "store " + path);
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument("store " + path + " is not a directory");
  if (st.st_uid != ::geteuid())
    return Status::PermissionDenied("store " + path + " is owned by uid " +
                                    std::to_string(st.st_uid) + ", not by this user");
  for (const std::string& dir : {path, path + "/data"}) {
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if ((st.st_mode & 07777) != 0700 && ::chmod(dir.c_str(), 0700) != 0)
      return Status::FromErrno(errno, "make store directory " + dir + " private");
    DIR* d = ::opendir(dir.c_str());
    if (!d) return Status::FromErrno(errno, "list " + dir);
    while (const dirent* e = ::readdir(d)) {
      const std::string file = dir + "/" + e->d_name;
      if (::lstat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) == 0)
        continue;
      if (::chmod(file.c_str(), st.st_mode & 0700) != 0) {
        int err = errno;
        ::closedir(d);
        return Status::FromErrno(err, "make store file " + file + " private");
      }
    }
    ::closedir(d);
  }
  return Status::Ok();
}

}  // namespace

std::string DefaultStorePath() {
  const char* env = std::getenv("IMGFS_STORE");
  return env && *env ? env : "/var/lib/imgfs";
}

struct LocalStore::Impl {
  std::unique_ptr<rocksdb::Env> env;  // PrivateFileSystem; outlives db
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cf;  // by Family (null: not in a read-only store)
  std::unique_ptr<DataFiles> data;
  bool index_keys_complete = false;  // "index_keys" lists every index

  // Empty when the store has no such chunk: no error (and no message made) for what a
  // conversion asks of every chunk it cuts.
  Result<std::optional<ChunkMeta>> FindMeta(const Digest& digest) {
    rocksdb::PinnableSlice value;
    rocksdb::Status s = db->Get({}, cf[kChunkMeta], DigestKey(digest), &value);
    if (s.IsNotFound()) return std::optional<ChunkMeta>();
    if (!s.ok()) return FromRocks(s, "chunk " + digest.ToString());
    ChunkMeta m;
    if (!DecodeMeta({value.data(), value.size()}, &m))
      return Status::Corruption("chunk " + digest.ToString() + ": malformed record in the store");
    return std::optional<ChunkMeta>(m);
  }
  // NotFound when the store has no such chunk.
  Result<ChunkMeta> GetMeta(const Digest& digest) {
    ASSIGN_OR_RETURN(std::optional<ChunkMeta> m, FindMeta(digest));
    if (!m) return Status::NotFound("chunk " + digest.ToString());
    return *m;
  }
  // The stored form of the chunk that `m` describes, checked against its XXH3.
  Result<SharedBytes> ReadStored(const Digest& digest, const ChunkMeta& m);
  // Runs a RocksDB write (a put, a batch, a flush, a compaction). After a write failed for lack
  // of space, RocksDB refuses every later one with that background error, even once space is
  // free again, until it is resumed: a refused write resumes the database (which succeeds only
  // when space allows) and is tried once more. So the store recovers from a full disk without
  // a restart, and reads are served throughout.
  template <typename Op>
  rocksdb::Status Write(Op op) {
    rocksdb::Status s = op();
    if (s.ok() || !(s.IsIOError() || s.IsNoSpace())) return s;
    if (!db->Resume().ok()) return s;
    return op();
  }

  // Removes a chunk's records, then its bytes.
  Status Remove(const Digest& digest, const ChunkMeta& m, const std::string& what) {
    rocksdb::WriteBatch batch;
    batch.Delete(cf[kChunkMeta], DigestKey(digest));
    if (!m.in_file()) batch.Delete(cf[kChunks], DigestKey(digest));
    RETURN_IF_ERROR(
        FromRocks(Write([&] { return db->Write({}, &batch); }), what + " " + digest.ToString()));
    if (m.in_file()) data->Release(m.extent);
    return Status::Ok();
  }

  // The image names, read with RO (gc reads them from its snapshot).
  Result<std::vector<ImageRef>> Refs(const rocksdb::ReadOptions& ro);

  // Fills "index_keys" from "indexes" (once, for a store written before it) and marks it
  // complete, in one synced batch.
  Status CompleteIndexKeys() {
    std::string marker;
    rocksdb::Status s = db->Get({}, cf[kDefault], kIndexKeysComplete, &marker);
    index_keys_complete = s.ok();
    if (!s.IsNotFound()) return FromRocks(s, "read the index list's marker");
    rocksdb::WriteBatch batch;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ScanOptions(), cf[kIndexes]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) batch.Put(cf[kIndexKeys], it->key(), "");
    RETURN_IF_ERROR(FromRocks(it->status(), "list indexes"));
    it.reset();
    batch.Put(cf[kDefault], kIndexKeysComplete, "");
    rocksdb::WriteOptions wo;
    wo.sync = true;
    RETURN_IF_ERROR(FromRocks(Write([&] { return db->Write(wo, &batch); }), "list indexes"));
    index_keys_complete = true;
    return Status::Ok();
  }

  ~Impl() {
    if (!db) return;
    for (auto* h : cf)
      if (h) (void)db->DestroyColumnFamilyHandle(h);
    (void)db->Close();
  }
  rocksdb::ColumnFamilyHandle* operator[](Family f) const { return cf[f]; }
};

LocalStore::LocalStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalStore::~LocalStore() = default;

Result<std::unique_ptr<LocalStore>> LocalStore::Open(const std::string& path, bool read_only) {
  if (!read_only) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
      return Status::FromErrno(errno, "create store " + path);
    RETURN_IF_ERROR(MakePrivate(path));
  }
  auto impl = std::make_unique<Impl>();
  auto fs = std::make_shared<PrivateFileSystem>(rocksdb::FileSystem::Default());
  impl->env = rocksdb::NewCompositeEnv(fs);
  rocksdb::DBOptions db_options;
  db_options.env = impl->env.get();
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  // Table files are opened on the opening thread. RocksDB starts max_file_opening_threads - 1
  // threads (15 by default) per column family at every open, whether there are files to open or
  // not: ~105 threads made and joined at each open of a store of this many families, ~3.7 ms of
  // every daemon start and every command. Chunk bytes are in blob and data files, not table
  // files, so a store has few table files to open (its keys); one thread does them.
  db_options.max_file_opening_threads = 1;
  // RocksDB's records are read with pread, not through mappings: a mapped 5.8 MB index came in
  // page fault by page fault, ~45 read-ahead windows of 128 KiB, each a disk request (~2 ms on
  // a VM's disk): a mount from a cold page cache spent 115 ms of its 180 there, now one read.
  // (Large chunks are in the data files, which are mapped: imgfs/data_files.h.)
  db_options.allow_mmap_reads = false;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.info_log = std::make_shared<RocksLogger>();
  db_options.listeners.push_back(std::make_shared<ManualRecovery>());
  db_options.keep_log_file_num = 2;

  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (int f = 0; f < kFamilies; ++f) {
    rocksdb::ColumnFamilyOptions o;
    if (f == kChunks) {
      // Chunks are already zstd-compressed and large: keep them in blob files so compaction
      // moves keys, not bytes.
      o.compression = rocksdb::kNoCompression;
      o.enable_blob_files = true;
      o.min_blob_size = 512;
      o.blob_file_size = 256u << 20;
      o.enable_blob_garbage_collection = true;
      o.write_buffer_size = 128u << 20;
    } else if (f == kIndexes) {
      o.enable_blob_files = true;
      o.min_blob_size = 4096;
    }
    families.emplace_back(kFamilyNames[f], o);
  }
  rocksdb::DB* raw = nullptr;
  if (read_only) {
    if (::access((path + "/CREATING").c_str(), F_OK) == 0)
      return Status::NotFound("no store at " + path +
                              " yet (it is being created, or its "
                              "creation did not finish)");
    // A store written by an older version may lack a family that a writable open would add:
    // read-only, only the ones it has are opened.
    std::vector<std::string> names;
    std::vector<int> opened;
    std::vector<rocksdb::ColumnFamilyDescriptor> present;
    const bool listed = rocksdb::DB::ListColumnFamilies(db_options, path, &names).ok();
    for (int f = 0; f < kFamilies; ++f) {
      if (listed && f != kDefault &&
          std::find(names.begin(), names.end(), kFamilyNames[f]) == names.end())
        continue;
      opened.push_back(f);
      present.push_back(families[f]);
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::Status s = rocksdb::DB::OpenForReadOnly(db_options, path, present, &handles, &raw);
    if (s.IsIOError() || s.IsInvalidArgument())
      return Status::NotFound("no store at " + path + " (" + s.ToString() + ")");
    RETURN_IF_ERROR(FromRocks(s, "open store " + path));
    impl->db.reset(raw);
    impl->cf.assign(kFamilies, nullptr);
    for (size_t i = 0; i < handles.size(); ++i) impl->cf[opened[i]] = handles[i];
    for (int f : {kChunks, kChunkMeta, kIndexes, kRefs, kTraces})
      if (!impl->cf[f])
        return Status::Corruption("store " + path + " has no column family " + kFamilyNames[f]);
    std::string marker;
    impl->index_keys_complete =
        impl->cf[kIndexKeys] && raw->Get({}, impl->cf[kDefault], kIndexKeysComplete, &marker).ok();
  } else {
    CreationGuard creation(path);
    ASSIGN_OR_RETURN(const bool creating, creation.Needed());
    if (creating) {
      RETURN_IF_ERROR(creation.Begin());
      fs->DeferSyncs(true);
    }
    rocksdb::Status s = rocksdb::DB::Open(db_options, path, families, &impl->cf, &raw);
    impl->db.reset(raw);
    // (On a new store, its marker goes in with the creation's deferred syncs.)
    Status listed = s.ok() ? impl->CompleteIndexKeys() : Status::Ok();
    fs->DeferSyncs(false);
    RETURN_IF_ERROR(FromRocks(s, "open store " + path));
    RETURN_IF_ERROR(listed);
    if (creating) RETURN_IF_ERROR(creation.Finish());
  }
  ASSIGN_OR_RETURN(impl->data, DataFiles::Open(path + "/data", read_only));
  return std::unique_ptr<LocalStore>(new LocalStore(std::move(impl)));
}

Result<SharedBytes> LocalStore::ReadChunk(const Digest& digest, uint32_t raw_length) {
  ASSIGN_OR_RETURN(ChunkMeta m, impl_->GetMeta(digest));
  if (m.raw != raw_length)
    return Status::InvalidArgument("chunk " + digest.ToString() + " is " + std::to_string(m.raw) +
                                   " bytes in the store, not " + std::to_string(raw_length));
  return impl_->ReadStored(digest, m);
}

Result<SharedBytes> LocalStore::Impl::ReadStored(const Digest& digest, const ChunkMeta& m) {
  if (!m.in_file()) {
    // Our XXH3 guards the record, so RocksDB's own CRC pass over it is skipped.
    rocksdb::ReadOptions ro;
    ro.verify_checksums = false;
    rocksdb::PinnableSlice value;
    if (rocksdb::Status s = db->Get(ro, cf[kChunks], DigestKey(digest), &value); !s.ok())
      return FromRocks(s, "chunk " + digest.ToString());
    if (value.size() < kRecordHeader ||
        LoadU64(reinterpret_cast<const uint8_t*>(value.data())) !=
            Xxh3(value.data() + kRecordHeader, value.size() - kRecordHeader))
      return Status::Corruption("chunk " + digest.ToString() + ": local copy fails its checksum");
    return SharedBytes(std::string(value.data() + kRecordHeader, value.size() - kRecordHeader));
  }
  auto bytes = data->Map(m.extent, m.xxh3);
  if (!bytes.ok()) return bytes.status().WithContext("chunk " + digest.ToString() + ": local copy");
  return bytes;
}

Result<std::string> LocalStore::GetStoredChunk(const Digest& digest) {
  ASSIGN_OR_RETURN(ChunkMeta m, impl_->GetMeta(digest));
  ASSIGN_OR_RETURN(SharedBytes bytes, impl_->ReadStored(digest, m));
  return std::string(*bytes);
}

Result<SharedBytes> LocalStore::GetStoredView(const Digest& digest) {
  ASSIGN_OR_RETURN(ChunkMeta m, impl_->GetMeta(digest));
  return impl_->ReadStored(digest, m);
}

Result<uint32_t> LocalStore::GetStoredLength(const Digest& digest) {
  ASSIGN_OR_RETURN(ChunkMeta m, impl_->GetMeta(digest));
  return m.stored;
}

void LocalStore::WillNeed(const std::vector<Digest>& digests) {
  std::vector<DataFiles::Extent> extents;
  for (const Digest& d : digests) {
    auto m = impl_->GetMeta(d);
    if (m.ok() && m->in_file()) extents.push_back(m->extent);
  }
  impl_->data->WillNeed(std::move(extents));
}

Result<bool> LocalStore::HasChunk(const Digest& digest) {
  ASSIGN_OR_RETURN(std::optional<ChunkMeta> m, impl_->FindMeta(digest));
  return m && !m->cached();
}

Result<bool> LocalStore::HasAnyChunk(const Digest& digest) {
  ASSIGN_OR_RETURN(std::optional<ChunkMeta> m, impl_->FindMeta(digest));
  return m.has_value();
}

Status LocalStore::PutChunk(const Digest& digest, uint32_t raw_length, std::string_view stored) {
  return Put(digest, raw_length, stored, /*cached=*/false);
}

Status LocalStore::PutCachedChunk(const Digest& digest, uint32_t raw_length,
                                  std::string_view stored) {
  return Put(digest, raw_length, stored, /*cached=*/true);
}

Status LocalStore::Put(const Digest& digest, uint32_t raw_length, std::string_view stored,
                       bool cached) {
  ASSIGN_OR_RETURN(std::optional<ChunkMeta> old, impl_->FindMeta(digest));
  // A cached chunk never replaces a stored one; a pinned one replaces only a cached one.
  if (old && (cached || !old->cached())) return Status::Ok();
  ChunkMeta m;
  m.raw = raw_length;
  m.stored = static_cast<uint32_t>(stored.size());
  m.flags = cached ? kCachedFlag : 0;
  m.xxh3 = Xxh3(stored.data(), stored.size());
  rocksdb::WriteBatch batch;
  if (stored.size() >= kInFileMin) {
    auto extent = impl_->data->Append(stored);
    if (!extent.ok()) return extent.status().WithContext("store chunk " + digest.ToString());
    m.flags |= kInFileFlag;
    m.extent = *extent;
    if (old && !old->in_file()) batch.Delete((*impl_)[kChunks], DigestKey(digest));
  } else {
    std::string record;
    record.reserve(kRecordHeader + stored.size());
    PutU64(record, m.xxh3);
    record.append(stored);
    batch.Put((*impl_)[kChunks], DigestKey(digest), record);
  }
  batch.Put((*impl_)[kChunkMeta], DigestKey(digest), EncodeMeta(m));
  // Pinned chunks skip the WAL: SyncChunks syncs the data files and flushes the records before
  // any index may name them. Cached chunks go through the WAL: the daemon never flushes, and a
  // record whose bytes did not reach the disk fails its checksum and is refetched.
  rocksdb::WriteOptions wo;
  wo.disableWAL = !cached;
  if (rocksdb::Status s = impl_->Write([&] { return impl_->db->Write(wo, &batch); }); !s.ok()) {
    if (m.in_file()) impl_->data->Release(m.extent);
    return FromRocks(s, "store chunk " + digest.ToString());
  }
  // A cached chunk a conversion stored again as pinned: its old copy goes.
  if (old && old->in_file()) impl_->data->Release(old->extent);
  return Status::Ok();
}

Status LocalStore::DeleteChunk(const Digest& digest) {
  auto m = impl_->GetMeta(digest);
  if (m.status().code() == Code::kNotFound) return Status::Ok();
  RETURN_IF_ERROR(m.status());
  return impl_->Remove(digest, *m, "delete");
}

Status LocalStore::DiscardChunks(const std::vector<Digest>& digests) {
  rocksdb::WriteBatch batch;
  std::vector<DataFiles::Extent> extents;
  for (const Digest& d : digests) {
    auto m = impl_->GetMeta(d);
    if (m.status().code() == Code::kNotFound) continue;
    RETURN_IF_ERROR(m.status());
    if (m->cached()) continue;
    batch.Delete((*impl_)[kChunkMeta], DigestKey(d));
    if (m->in_file()) {
      extents.push_back(m->extent);
    } else {
      batch.Delete((*impl_)[kChunks], DigestKey(d));
    }
  }
  if (batch.Count() == 0) return Status::Ok();
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  RETURN_IF_ERROR(FromRocks(impl_->Write([&] { return impl_->db->Write(wo, &batch); }),
                            "discard " + std::to_string(digests.size()) + " chunks"));
  for (const DataFiles::Extent& e : extents) impl_->data->Release(e);
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return FromRocks(impl_->Write([&] {
    return impl_->db->Flush(fo, {(*impl_)[kChunks], (*impl_)[kChunkMeta]});
  }),
                   "discard chunks: flush");
}

Result<uint64_t> LocalStore::EvictChunk(const Digest& digest) {
  auto m = impl_->GetMeta(digest);
  if (m.status().code() == Code::kNotFound) return uint64_t{0};
  RETURN_IF_ERROR(m.status());
  if (!m->cached()) return uint64_t{0};
  RETURN_IF_ERROR(impl_->Remove(digest, *m, "evict"));
  return uint64_t{m->stored};
}

Result<std::vector<LocalStore::CachedChunk>> LocalStore::ListCachedChunks() {
  std::vector<CachedChunk> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(ScanOptions(), (*impl_)[kChunkMeta]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ChunkMeta m;
    if (it->key().size() != 32 || !DecodeMeta(it->value().ToStringView(), &m) || !m.cached())
      continue;
    const uint64_t order = m.in_file() ? (uint64_t{m.extent.file} << 40) | m.extent.offset : 0;
    out.push_back(
        {Digest::FromBytes(reinterpret_cast<const uint8_t*>(it->key().data())), m.stored, order});
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan chunks"));
  return out;
}

Result<std::vector<LocalStore::ChunkInfo>> LocalStore::ListChunks() {
  std::vector<ChunkInfo> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(ScanOptions(), (*impl_)[kChunkMeta]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ChunkMeta m;
    if (it->key().size() != 32 || !DecodeMeta(it->value().ToStringView(), &m))
      return Status::Corruption("chunk record " + it->key().ToString(true) + " is malformed");
    out.push_back({Digest::FromBytes(reinterpret_cast<const uint8_t*>(it->key().data())), m.raw,
                   m.stored, m.cached()});
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan chunks"));
  return out;
}

Status LocalStore::PutTrace(const Digest& index_digest, std::string_view trace,
                            Durability durability) {
  rocksdb::WriteOptions wo;
  wo.sync = durability == Durability::kSynced;
  return FromRocks(impl_->Write([&] {
    return impl_->db->Put(wo, (*impl_)[kTraces], DigestKey(index_digest),
                          rocksdb::Slice(trace.data(), trace.size()));
  }),
                   "store trace");
}

Result<std::string> LocalStore::GetTrace(const Digest& index_digest) {
  std::string value;
  RETURN_IF_ERROR(FromRocks(impl_->db->Get({}, (*impl_)[kTraces], DigestKey(index_digest), &value),
                            "trace of " + index_digest.ToString()));
  return value;
}

void LocalStore::StartSync() {
  rocksdb::FlushOptions fo;
  fo.wait = false;
  fo.allow_write_stall = true;  // never waits: a hint
  (void)impl_->db->Flush(fo, {(*impl_)[kChunks], (*impl_)[kChunkMeta]});
}

Status LocalStore::SyncChunks() {
  RETURN_IF_ERROR(impl_->data->Sync());
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return FromRocks(impl_->Write([&] {
    return impl_->db->Flush(fo, {(*impl_)[kChunks], (*impl_)[kChunkMeta]});
  }),
                   "flush chunks");
}

Status LocalStore::PublishIndex(const ImageIndex& index, const std::string& ref_name,
                                Durability durability, Origin origin) {
  if (ref_name.empty()) return Status::InvalidArgument("empty image name");
  auto bytes = index.bytes();
  rocksdb::WriteBatch batch;
  if (origin == Origin::kConverted) batch.Put((*impl_)[kDefault], ConvertedKey(index.digest()), "");
  batch.Put((*impl_)[kIndexes], DigestKey(index.digest()),
            rocksdb::Slice(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  batch.Put((*impl_)[kIndexKeys], DigestKey(index.digest()), "");
  batch.Put((*impl_)[kRefs], ref_name, index.digest().ToString());
  rocksdb::WriteOptions wo;
  wo.sync = durability == Durability::kSynced;
  return FromRocks(impl_->Write([&] { return impl_->db->Write(wo, &batch); }), "publish index");
}

Result<bool> LocalStore::ConvertedHere(const Digest& digest) {
  std::string value;
  rocksdb::Status s = impl_->db->Get({}, (*impl_)[kDefault], ConvertedKey(digest), &value);
  if (s.IsNotFound()) return false;
  RETURN_IF_ERROR(FromRocks(s, "image " + digest.ToString()));
  return true;
}

Result<std::shared_ptr<const ImageIndex>> LocalStore::GetIndex(const Digest& digest) {
  // Neither RocksDB's CRC32C of the record (software in Debian's build) nor a SHA-256 of the
  // bytes: PublishIndex stored them under their digest, and the index's own XXH3 trailer,
  // checked by Parse, guards the copy (~10 ms less per mount of a 6 MB index).
  rocksdb::ReadOptions ro;
  ro.verify_checksums = false;
  std::string value;
  RETURN_IF_ERROR(FromRocks(impl_->db->Get(ro, (*impl_)[kIndexes], DigestKey(digest), &value),
                            "image " + digest.ToString()));
  return ImageIndex::Parse(std::move(value), digest);
}

Result<Digest> LocalStore::Resolve(const std::string& name) {
  std::string value;
  rocksdb::Status s = impl_->db->Get({}, (*impl_)[kRefs], name, &value);
  if (s.ok()) return Digest::Parse(value);
  if (!s.IsNotFound()) return FromRocks(s, "image " + name);
  // A whole digest is looked up in the list of indexes; a prefix of one (or a whole one in a
  // store without a complete list) is matched against all.
  if (auto digest = Digest::Parse(name); digest.ok() && impl_->index_keys_complete) {
    s = impl_->db->Get({}, (*impl_)[kIndexKeys], DigestKey(*digest), &value);
    if (s.ok()) return *digest;
    if (!s.IsNotFound()) return FromRocks(s, "image " + name);
    return Status::NotFound("image " + name + " not found in the store");
  }
  std::string hex = name.rfind("sha256:", 0) == 0 ? name.substr(7) : name;
  if (hex.size() >= 6 && hex.find_first_not_of("0123456789abcdef") == std::string::npos) {
    ASSIGN_OR_RETURN(std::vector<Digest> all, ListIndexes());
    std::vector<Digest> matches;
    for (const Digest& d : all)
      if (d.Hex().compare(0, hex.size(), hex) == 0) matches.push_back(d);
    if (matches.size() == 1) return matches[0];
    if (matches.size() > 1) return Status::InvalidArgument("image " + name + " is ambiguous");
  }
  return Status::NotFound("image " + name + " not found in the store");
}

Result<std::vector<ImageRef>> LocalStore::ListRefs() { return impl_->Refs({}); }

Result<std::vector<ImageRef>> LocalStore::Impl::Refs(const rocksdb::ReadOptions& ro) {
  std::vector<ImageRef> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf[kRefs]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ASSIGN_OR_RETURN(Digest d, Digest::Parse(it->value().ToString()));
    out.push_back({it->key().ToString(), d});
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "list images"));
  return out;
}

Result<std::vector<Digest>> LocalStore::ListIndexes() {
  std::vector<Digest> out;
  // (Iterating "indexes" itself reads every index: a store opened read-only before its first
  // writable open with this version has no complete "index_keys" yet.)
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(
      ScanOptions(), (*impl_)[impl_->index_keys_complete ? kIndexKeys : kIndexes]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 32) return Status::Corruption("malformed index key in store");
    out.push_back(Digest::FromBytes(reinterpret_cast<const uint8_t*>(it->key().data())));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "list indexes"));
  return out;
}

Status LocalStore::DeleteRef(const std::string& name) {
  std::string value;
  rocksdb::Status s = impl_->db->Get({}, (*impl_)[kRefs], name, &value);
  if (s.IsNotFound()) return Status::NotFound("image " + name + " not found in the store");
  RETURN_IF_ERROR(FromRocks(s, "image " + name));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(impl_->Write([&] { return impl_->db->Delete(wo, (*impl_)[kRefs], name); }),
                   "remove " + name);
}

Result<std::vector<std::string>> LocalStore::RemoveImage(const std::string& name) {
  ASSIGN_OR_RETURN(std::vector<ImageRef> refs, ListRefs());
  bool is_name = false;
  for (const ImageRef& r : refs) is_name |= r.name == name;
  auto digest = is_name ? Result<Digest>(Status::NotFound(name)) : Resolve(name);
  std::vector<std::string> removed;
  for (const ImageRef& r : refs) {
    if (r.name != name && !(digest.ok() && r.index_digest == *digest)) continue;
    RETURN_IF_ERROR(DeleteRef(r.name));
    removed.push_back(r.name);
  }
  if (removed.empty()) return Status::NotFound("image " + name + " not found in the store");
  return removed;
}

Result<GcResult> LocalStore::GarbageCollect(const std::vector<Digest>& keep) {
  GcResult result;
  // Names and indexes are read as of one moment: an index published meanwhile (with its name,
  // in one batch) is neither named nor seen, so it is not taken for garbage.
  rocksdb::ManagedSnapshot at(impl_->db.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = at.snapshot();
  rocksdb::ReadOptions scan = ScanOptions();
  scan.snapshot = at.snapshot();
  ASSIGN_OR_RETURN(std::vector<ImageRef> refs, impl_->Refs(ro));
  std::unordered_set<Digest, DigestHash> live_indexes(keep.begin(), keep.end());
  for (const ImageRef& r : refs) live_indexes.insert(r.index_digest);

  // The indexes themselves, not "index_keys", say which chunks are live; the list is put right
  // where it differs from them.
  std::unordered_set<Digest, DigestHash> live_chunks, stored;
  rocksdb::WriteBatch batch;
  std::unique_ptr<rocksdb::Iterator> ix(impl_->db->NewIterator(scan, (*impl_)[kIndexes]));
  for (ix->SeekToFirst(); ix->Valid(); ix->Next()) {
    if (ix->key().size() != 32) return Status::Corruption("malformed index key in store");
    const Digest d = Digest::FromBytes(reinterpret_cast<const uint8_t*>(ix->key().data()));
    stored.insert(d);
    if (!live_indexes.count(d)) {
      batch.Delete((*impl_)[kIndexes], DigestKey(d));
      batch.Delete((*impl_)[kIndexKeys], DigestKey(d));
      batch.Delete((*impl_)[kTraces], DigestKey(d));
      batch.Delete((*impl_)[kDefault], ConvertedKey(d));
      result.indexes_removed++;
      continue;
    }
    batch.Put((*impl_)[kIndexKeys], DigestKey(d), "");
    ASSIGN_OR_RETURN(auto index, ImageIndex::Parse(ix->value().ToString(), d));
    for (uint32_t i = 0; i < index->chunk_count(); ++i) live_chunks.insert(index->Chunk(i).digest);
  }
  RETURN_IF_ERROR(FromRocks(ix->status(), "list indexes"));
  ix.reset(impl_->db->NewIterator(scan, (*impl_)[kIndexKeys]));
  for (ix->SeekToFirst(); ix->Valid(); ix->Next())
    if (ix->key().size() != 32 ||
        !stored.count(Digest::FromBytes(reinterpret_cast<const uint8_t*>(ix->key().data()))))
      batch.Delete((*impl_)[kIndexKeys], ix->key());
  RETURN_IF_ERROR(FromRocks(ix->status(), "list indexes"));
  ix.reset();
  std::vector<DataFiles::Extent> live_extents, dead_extents;
  // The chunk records as of now, not of the snapshot: the extents they name are what
  // ReclaimUnreferenced keeps, and a chunk stored since the snapshot must be among them.
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(ScanOptions(), (*impl_)[kChunkMeta]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 32) continue;
    Digest d = Digest::FromBytes(reinterpret_cast<const uint8_t*>(it->key().data()));
    ChunkMeta m;
    const bool well_formed = DecodeMeta(it->value().ToStringView(), &m);
    if (live_chunks.count(d) && well_formed) {
      if (m.in_file()) live_extents.push_back(m.extent);
      continue;
    }
    batch.Delete((*impl_)[kChunkMeta], it->key());
    batch.Delete((*impl_)[kChunks], it->key());
    if (well_formed && m.in_file()) dead_extents.push_back(m.extent);
    result.chunks_removed++;
    result.bytes_removed += m.stored;
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan chunks"));
  it.reset();
  rocksdb::WriteOptions wo;
  wo.sync = true;
  RETURN_IF_ERROR(
      FromRocks(impl_->Write([&] { return impl_->db->Write(wo, &batch); }), "garbage collect"));
  // Reclaim the space now rather than at some later compaction.
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (Family f : {kChunks, kChunkMeta, kIndexes})
    RETURN_IF_ERROR(FromRocks(
        impl_->Write([&] { return impl_->db->CompactRange(co, (*impl_)[f], nullptr, nullptr); }),
        "compact"));
  // The bytes of the chunks removed, and any a crash or a failed write left behind.
  for (const DataFiles::Extent& e : dead_extents) impl_->data->Release(e);
  RETURN_IF_ERROR(impl_->data->ReclaimUnreferenced(std::move(live_extents)));
  return result;
}

Result<StoreStats> LocalStore::Stats() {
  StoreStats stats;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(ScanOptions(), (*impl_)[kChunkMeta]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ChunkMeta m;
    if (!DecodeMeta(it->value().ToStringView(), &m)) continue;
    stats.chunks++;
    stats.raw_bytes += m.raw;
    stats.stored_bytes += m.stored;
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan chunks"));
  ASSIGN_OR_RETURN(std::vector<Digest> indexes, ListIndexes());
  stats.indexes = indexes.size();
  return stats;
}

}  // namespace imgfs::store
