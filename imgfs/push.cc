#include "imgfs/push.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "core/chunk_codec.h"
#include "core/digest.h"
#include "core/zstd_frame.h"

namespace imgfs::remote {
namespace {

// Chunk numbers of each pack, ordered by pack offset.
std::vector<std::vector<uint32_t>> ChunksByPack(const ImageIndex& index) {
  std::vector<std::vector<uint32_t>> packs(index.pack_count());
  for (uint32_t i = 0; i < index.chunk_count(); ++i) packs[index.Chunk(i).pack].push_back(i);
  for (auto& chunks : packs)
    std::sort(chunks.begin(), chunks.end(), [&](uint32_t a, uint32_t b) {
      return index.Chunk(a).pack_offset < index.Chunk(b).pack_offset;
    });
  return packs;
}

// Rebuilds pack `p` from local chunks into `out` and checks it against the index.
Status RebuildPack(const ImageIndex& index, uint32_t p, const std::vector<uint32_t>& chunks,
                   ChunkSource& local, std::string* out) {
  const PackRecord pack = index.Pack(p);
  const std::string name = "pack " + pack.digest.ToString();
  if (pack.size > kMaxPushPackSize)
    return Status::ResourceExhausted(name + ": " + std::to_string(pack.size) +
                                     " bytes, more than a push holds in memory");
  out->clear();
  out->reserve(pack.size);
  Sha256Hasher hasher;
  std::string raw;
  for (uint32_t c : chunks) {
    const ChunkRecord rec = index.Chunk(c);
    const std::string cname = name + ": chunk " + rec.digest.ToString();
    if (rec.pack_offset != out->size())
      return Status::Corruption(cname + " is at offset " + std::to_string(rec.pack_offset) +
                                ", expected " + std::to_string(out->size()) +
                                " (the index's chunks do not tile the pack)");
    Result<std::string> stored = local.GetStoredChunk(rec.digest);
    if (!stored.ok()) return stored.status().WithContext(cname);
    if (stored->size() != rec.stored_length)
      return Status::Corruption(cname + ": local copy is " + std::to_string(stored->size()) +
                                " bytes stored, the index says " +
                                std::to_string(rec.stored_length));
    RETURN_IF_ERROR(DecodeChunk(*stored, rec.length, rec.digest, &raw).WithContext(cname));
    hasher.Update(*stored);
    out->append(*stored);
  }
  if (out->size() != pack.size)
    return Status::Corruption(name + ": rebuilt " + std::to_string(out->size()) +
                              " bytes, the index says " + std::to_string(pack.size));
  Digest got = hasher.Finish();
  if (got != pack.digest)
    return Status::Corruption(name + ": rebuilt from local chunks it has digest " + got.ToString());
  return Status::Ok();
}

// Uploads pack `p` unless the remote has it; adds to `st` under `mu`.
Status PushPack(const ImageIndex& index, uint32_t p, const std::vector<uint32_t>& chunks,
                ChunkSource& local, RemoteStore& remote, const std::string& where,
                std::string* buffer, std::mutex* mu, PushStats* st) {
  const PackRecord pack = index.Pack(p);
  Result<bool> has = remote.HasBlob(pack.digest);
  if (!has.ok()) return has.status().WithContext(where);
  if (*has) {
    std::lock_guard lock(*mu);
    ++st->packs_skipped;
    st->pack_bytes_skipped += pack.size;
    return Status::Ok();
  }
  RETURN_IF_ERROR(RebuildPack(index, p, chunks, local, buffer).WithContext(where));
  RETURN_IF_ERROR(remote.WriteBlob(pack.digest, *buffer).WithContext(where));
  std::lock_guard lock(*mu);
  ++st->packs_uploaded;
  st->pack_bytes_uploaded += pack.size;
  return Status::Ok();
}

}  // namespace

Status PushImage(const ImageIndex& index, ChunkSource& local, RemoteStore& remote,
                 const std::string* trace_or_null, PushStats* stats) {
  return PushImage(index, local, remote, trace_or_null, stats, PushOptions{});
}

Status PushImage(const ImageIndex& index, ChunkSource& local, RemoteStore& remote,
                 const std::string* trace_or_null, PushStats* stats, const PushOptions& options) {
  PushStats scratch;
  PushStats& st = stats ? *stats : scratch;
  const std::string where = "push to " + remote.Describe();
  const auto packs = ChunksByPack(index);
  std::mutex mu;
  const unsigned workers =
      std::max(1u, std::min<unsigned>(options.parallel_packs, index.pack_count()));
  if (workers <= 1) {
    std::string pack_bytes;
    for (uint32_t p = 0; p < index.pack_count(); ++p)
      RETURN_IF_ERROR(PushPack(index, p, packs[p], local, remote, where, &pack_bytes, &mu, &st));
  } else {
    std::atomic<uint32_t> next{0};
    std::atomic<bool> failed{false};
    std::vector<Status> results(workers);
    std::vector<std::thread> threads;
    auto work = [&](unsigned w) {
      std::string pack_bytes;
      for (uint32_t p; !failed && (p = next.fetch_add(1)) < index.pack_count();) {
        Status s = PushPack(index, p, packs[p], local, remote, where, &pack_bytes, &mu, &st);
        if (!s.ok()) {
          results[w] = std::move(s);
          failed = true;
        }
      }
    };
    for (unsigned w = 1; w < workers; ++w) {
      try {
        threads.emplace_back(work, w);
      } catch (const std::system_error&) {
        break;  // out of threads: fewer uploads at once
      }
    }
    work(0);  // the calling thread is a worker too
    for (auto& t : threads) t.join();
    for (const Status& s : results) RETURN_IF_ERROR(s);
  }

  auto bytes = index.bytes();
  std::string_view index_bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  st.index_bytes = index_bytes.size();
  Result<bool> has_index = remote.HasBlob(index.digest());
  if (!has_index.ok()) return has_index.status().WithContext(where);
  if (!*has_index) {
    RETURN_IF_ERROR(remote.WriteBlob(index.digest(), index_bytes)
                        .WithContext(where + ": index " + index.digest().ToString()));
    st.index_uploaded = true;
  }
  Result<bool> has_frame = remote.HasCompressedIndex(index.digest());
  if (!has_frame.ok()) return has_frame.status().WithContext(where);
  if (!*has_frame) {
    const std::string frame = CompressFrame(index_bytes, kIndexFrameZstdLevel);
    RETURN_IF_ERROR(remote.WriteCompressedIndex(index.digest(), frame)
                        .WithContext(where + ": compressed index " + index.digest().ToString()));
    st.compressed_index_uploaded = true;
    st.compressed_index_bytes = frame.size();
  }

  if (trace_or_null) {
    RETURN_IF_ERROR(remote.WriteTrace(index.digest(), *trace_or_null)
                        .WithContext(where + ": trace of " + index.digest().ToString()));
    st.trace_uploaded = true;
    st.trace_bytes = trace_or_null->size();
  }
  return Status::Ok();
}

}  // namespace imgfs::remote
