#include "imgfs/local_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>

#include <cstdlib>
#include <unordered_set>

#include "core/byte_io.h"

namespace imgfs {
namespace {

enum Family { kDefault, kChunks, kChunkMeta, kIndexes, kRefs, kTraces, kFamilies };
const char* const kFamilyNames[kFamilies] = {"default", "chunks", "chunk_meta",
                                             "indexes", "refs",   "traces"};

constexpr size_t kChunkHeader = 8;  // XXH3-64 of the stored payload, then the payload
// chunk_meta values: raw length u32, stored length u32, flags u8 (absent in old records = 0).
constexpr uint8_t kCachedFlag = 1;

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsNotFound()) return Status::NotFound(what);
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return Status::Unavailable(what + ": " + s.ToString());
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
    return Status::Unavailable(what + ": store is in use by another process (" + s.ToString() + ")");
  return Status::IOError(what + ": " + s.ToString());
}

rocksdb::Slice DigestKey(const Digest& d) {
  return {reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size()};
}

}  // namespace

std::string DefaultStorePath() {
  const char* env = std::getenv("IMGFS_STORE");
  return env && *env ? env : "/var/lib/imgfs";
}

struct LocalStore::Impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cf;  // by Family

  ~Impl() {
    if (!db) return;
    for (auto* h : cf) (void)db->DestroyColumnFamilyHandle(h);
    (void)db->Close();
  }
  rocksdb::ColumnFamilyHandle* operator[](Family f) const { return cf[f]; }
};

LocalStore::LocalStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalStore::~LocalStore() = default;

Result<std::unique_ptr<LocalStore>> LocalStore::Open(const std::string& path, bool read_only) {
  if (!read_only && ::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::FromErrno(errno, "create store " + path);
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  // Chunks of a file sit together in blob files: let the kernel read ahead.
  db_options.advise_random_on_open = false;
  // Reads through mappings: one copy fewer on the read path than pread into a buffer.
  db_options.allow_mmap_reads = true;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
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
  auto impl = std::make_unique<Impl>();
  rocksdb::DB* raw = nullptr;
  if (read_only) {
    rocksdb::Status s = rocksdb::DB::OpenForReadOnly(db_options, path, families, &impl->cf, &raw);
    if (s.IsIOError() || s.IsInvalidArgument())
      return Status::NotFound("no store at " + path + " (" + s.ToString() + ")");
    RETURN_IF_ERROR(FromRocks(s, "open store " + path));
  } else {
    RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(db_options, path, families, &impl->cf, &raw),
                              "open store " + path));
  }
  impl->db.reset(raw);
  return std::unique_ptr<LocalStore>(new LocalStore(std::move(impl)));
}

Result<std::string> LocalStore::GetStoredChunk(const Digest& digest) {
  // Our XXH3 guards the record, so RocksDB's own CRC pass over it is skipped: on the read path
  // it cost as much as the read.
  rocksdb::ReadOptions ro;
  ro.verify_checksums = false;
  rocksdb::PinnableSlice value;
  RETURN_IF_ERROR(FromRocks(impl_->db->Get(ro, (*impl_)[kChunks], DigestKey(digest), &value),
                            "chunk " + digest.ToString()));
  if (value.size() < kChunkHeader ||
      LoadU64(reinterpret_cast<const uint8_t*>(value.data())) !=
          Xxh3(value.data() + kChunkHeader, value.size() - kChunkHeader))
    return Status::Corruption("chunk " + digest.ToString() + ": local copy fails its checksum");
  return std::string(value.data() + kChunkHeader, value.size() - kChunkHeader);
}

Result<bool> LocalStore::HasChunk(const Digest& digest) {
  std::string value;
  rocksdb::Status s = impl_->db->Get({}, (*impl_)[kChunkMeta], DigestKey(digest), &value);
  if (s.IsNotFound()) return false;
  RETURN_IF_ERROR(FromRocks(s, "chunk " + digest.ToString()));
  return !(value.size() > 8 && (value[8] & kCachedFlag));
}

Status LocalStore::PutChunk(const Digest& digest, uint32_t raw_length, std::string_view stored) {
  return Put(digest, raw_length, stored, /*cached=*/false);
}

Status LocalStore::PutCachedChunk(const Digest& digest, uint32_t raw_length,
                                  std::string_view stored) {
  std::string meta;
  rocksdb::Status s = impl_->db->Get({}, (*impl_)[kChunkMeta], DigestKey(digest), &meta);
  if (s.ok()) return Status::Ok();  // pinned or already cached
  if (!s.IsNotFound()) return FromRocks(s, "chunk " + digest.ToString());
  return Put(digest, raw_length, stored, /*cached=*/true);
}

Status LocalStore::Put(const Digest& digest, uint32_t raw_length, std::string_view stored,
                       bool cached) {
  std::string record;
  record.reserve(kChunkHeader + stored.size());
  PutU64(record, Xxh3(stored.data(), stored.size()));
  record.append(stored);
  std::string meta;
  PutU32(meta, raw_length);
  PutU32(meta, static_cast<uint32_t>(stored.size()));
  PutU8(meta, cached ? kCachedFlag : 0);
  rocksdb::WriteBatch batch;
  batch.Put((*impl_)[kChunks], DigestKey(digest), record);
  batch.Put((*impl_)[kChunkMeta], DigestKey(digest), meta);
  // Pinned chunks skip the WAL: SyncChunks flushes memtables before any index may name them.
  // Cached chunks go through the WAL: the daemon never flushes, and a lost one is refetched.
  rocksdb::WriteOptions wo;
  wo.disableWAL = !cached;
  return FromRocks(impl_->db->Write(wo, &batch), "store chunk " + digest.ToString());
}

Result<bool> LocalStore::HasAnyChunk(const Digest& digest) {
  std::string value;
  rocksdb::Status s = impl_->db->Get({}, (*impl_)[kChunkMeta], DigestKey(digest), &value);
  if (s.IsNotFound()) return false;
  RETURN_IF_ERROR(FromRocks(s, "chunk " + digest.ToString()));
  return true;
}

Status LocalStore::DeleteChunk(const Digest& digest) {
  rocksdb::WriteBatch batch;
  batch.Delete((*impl_)[kChunkMeta], DigestKey(digest));
  batch.Delete((*impl_)[kChunks], DigestKey(digest));
  return FromRocks(impl_->db->Write({}, &batch), "delete " + digest.ToString());
}

Result<uint64_t> LocalStore::EvictChunk(const Digest& digest) {
  std::string meta;
  rocksdb::Status s = impl_->db->Get({}, (*impl_)[kChunkMeta], DigestKey(digest), &meta);
  if (s.IsNotFound()) return uint64_t{0};
  RETURN_IF_ERROR(FromRocks(s, "chunk " + digest.ToString()));
  if (meta.size() <= 8 || !(meta[8] & kCachedFlag)) return uint64_t{0};
  rocksdb::WriteBatch batch;
  batch.Delete((*impl_)[kChunkMeta], DigestKey(digest));
  batch.Delete((*impl_)[kChunks], DigestKey(digest));
  RETURN_IF_ERROR(FromRocks(impl_->db->Write({}, &batch), "evict " + digest.ToString()));
  return uint64_t{LoadU32(reinterpret_cast<const uint8_t*>(meta.data()) + 4)};
}

Result<std::vector<LocalStore::CachedChunk>> LocalStore::ListCachedChunks() {
  std::vector<CachedChunk> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator({}, (*impl_)[kChunkMeta]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    rocksdb::Slice v = it->value();
    if (it->key().size() != 32 || v.size() <= 8 || !(v[8] & kCachedFlag)) continue;
    out.push_back({Digest::FromBytes(reinterpret_cast<const uint8_t*>(it->key().data())),
                   LoadU32(reinterpret_cast<const uint8_t*>(v.data()) + 4)});
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan chunks"));
  return out;
}

Status LocalStore::PutTrace(const Digest& index_digest, std::string_view trace) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(impl_->db->Put(wo, (*impl_)[kTraces], DigestKey(index_digest),
                                  rocksdb::Slice(trace.data(), trace.size())),
                   "store trace");
}

Result<std::string> LocalStore::GetTrace(const Digest& index_digest) {
  std::string value;
  RETURN_IF_ERROR(FromRocks(impl_->db->Get({}, (*impl_)[kTraces], DigestKey(index_digest), &value),
                            "trace of " + index_digest.ToString()));
  return value;
}

Status LocalStore::SyncChunks() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return FromRocks(impl_->db->Flush(fo, {(*impl_)[kChunks], (*impl_)[kChunkMeta]}),
                   "flush chunks");
}

Status LocalStore::PublishIndex(const ImageIndex& index, const std::string& ref_name) {
  if (ref_name.empty()) return Status::InvalidArgument("empty image name");
  auto bytes = index.bytes();
  rocksdb::WriteBatch batch;
  batch.Put((*impl_)[kIndexes], DigestKey(index.digest()),
            rocksdb::Slice(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  batch.Put((*impl_)[kRefs], ref_name, index.digest().ToString());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(impl_->db->Write(wo, &batch), "publish index");
}

Result<std::shared_ptr<const ImageIndex>> LocalStore::GetIndex(const Digest& digest) {
  std::string value;
  RETURN_IF_ERROR(FromRocks(impl_->db->Get({}, (*impl_)[kIndexes], DigestKey(digest), &value),
                            "image " + digest.ToString()));
  ASSIGN_OR_RETURN(auto index, ImageIndex::Parse(std::move(value)));
  if (index->digest() != digest)
    return Status::Corruption("image " + digest.ToString() + ": stored index does not match its digest");
  return index;
}

Result<Digest> LocalStore::Resolve(const std::string& name) {
  std::string value;
  rocksdb::Status s = impl_->db->Get({}, (*impl_)[kRefs], name, &value);
  if (s.ok()) return Digest::Parse(value);
  if (!s.IsNotFound()) return FromRocks(s, "image " + name);
  // A digest or a unique prefix of one.
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

Result<std::vector<ImageRef>> LocalStore::ListRefs() {
  std::vector<ImageRef> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator({}, (*impl_)[kRefs]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ASSIGN_OR_RETURN(Digest d, Digest::Parse(it->value().ToString()));
    out.push_back({it->key().ToString(), d});
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "list images"));
  return out;
}

Result<std::vector<Digest>> LocalStore::ListIndexes() {
  std::vector<Digest> out;
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, (*impl_)[kIndexes]));
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
  return FromRocks(impl_->db->Delete(wo, (*impl_)[kRefs], name), "remove " + name);
}

Result<GcResult> LocalStore::GarbageCollect() {
  GcResult result;
  ASSIGN_OR_RETURN(std::vector<ImageRef> refs, ListRefs());
  std::unordered_set<Digest, DigestHash> live_indexes;
  for (const ImageRef& r : refs) live_indexes.insert(r.index_digest);

  std::unordered_set<Digest, DigestHash> live_chunks;
  ASSIGN_OR_RETURN(std::vector<Digest> indexes, ListIndexes());
  rocksdb::WriteBatch batch;
  for (const Digest& d : indexes) {
    if (!live_indexes.count(d)) {
      batch.Delete((*impl_)[kIndexes], DigestKey(d));
      batch.Delete((*impl_)[kTraces], DigestKey(d));
      result.indexes_removed++;
      continue;
    }
    ASSIGN_OR_RETURN(auto index, GetIndex(d));
    for (uint32_t i = 0; i < index->chunk_count(); ++i) live_chunks.insert(index->Chunk(i).digest);
  }
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator({}, (*impl_)[kChunkMeta]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 32) continue;
    Digest d = Digest::FromBytes(reinterpret_cast<const uint8_t*>(it->key().data()));
    if (live_chunks.count(d)) continue;
    batch.Delete((*impl_)[kChunkMeta], it->key());
    batch.Delete((*impl_)[kChunks], it->key());
    result.chunks_removed++;
    if (it->value().size() >= 8)
      result.bytes_removed += LoadU32(reinterpret_cast<const uint8_t*>(it->value().data()) + 4);
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan chunks"));
  it.reset();
  rocksdb::WriteOptions wo;
  wo.sync = true;
  RETURN_IF_ERROR(FromRocks(impl_->db->Write(wo, &batch), "garbage collect"));
  // Reclaim the space now rather than at some later compaction.
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (Family f : {kChunks, kChunkMeta, kIndexes})
    RETURN_IF_ERROR(FromRocks(impl_->db->CompactRange(co, (*impl_)[f], nullptr, nullptr), "compact"));
  return result;
}

Result<StoreStats> LocalStore::Stats() {
  StoreStats stats;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator({}, (*impl_)[kChunkMeta]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->value().size() < 8) continue;
    const uint8_t* v = reinterpret_cast<const uint8_t*>(it->value().data());
    stats.chunks++;
    stats.raw_bytes += LoadU32(v);
    stats.stored_bytes += LoadU32(v + 4);
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan chunks"));
  ASSIGN_OR_RETURN(std::vector<Digest> indexes, ListIndexes());
  stats.indexes = indexes.size();
  return stats;
}

}  // namespace imgfs
