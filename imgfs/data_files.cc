#include "imgfs/data_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <csetjmp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <unordered_map>

#include "core/digest.h"
#include "core/fd.h"
#include "core/log.h"

namespace imgfs::store {
namespace {

constexpr uint64_t kAlign = 4096;
constexpr uint64_t kRollBytes = 256u << 20;  // start a new file past this size
constexpr uint64_t kMapBytes = 1u << 30;     // address space mapped per file; appends stay below
constexpr size_t kMaxAppend = 64u << 20;
// Appends start the writeback of each this many bytes of a file once they are filled, so that
// Sync() finds little left to write.
constexpr uint64_t kWritebackBytes = 8u << 20;

uint64_t AlignUp(uint64_t v) { return (v + kAlign - 1) & ~(kAlign - 1); }
uint64_t AlignDown(uint64_t v) { return v & ~(kAlign - 1); }

std::string FileName(uint32_t id) {
  char name[24];
  std::snprintf(name, sizeof name, "%08u.dat", id);
  return name;
}

// "NNNNNNNN.dat" -> id; 0 for anything else.
uint32_t ParseFileName(const char* name) {
  unsigned id = 0;
  char tail[8] = {};
  if (std::sscanf(name, "%8u.%4s", &id, tail) != 2 || std::string_view(tail) != "dat") return 0;
  return id;
}

// An extent's identity while it is leased: offsets are never reused within a file.
uint64_t KeyOf(uint32_t file, uint64_t offset) {
  return (uint64_t{file} << 32) | (offset / kAlign);
}

// SIGBUS while reading a mapping (an I/O error, a file truncated underneath) jumps back into
// HashMapped on the thread that faulted; any other SIGBUS gets the handler that was there before.
thread_local sigjmp_buf* t_bus_guard = nullptr;
struct sigaction g_previous_bus;

void OnBus(int sig, siginfo_t* info, void* context) {
  if (sigjmp_buf* guard = t_bus_guard) siglongjmp(*guard, 1);
  if (g_previous_bus.sa_flags & SA_SIGINFO) return g_previous_bus.sa_sigaction(sig, info, context);
  if (g_previous_bus.sa_handler != SIG_DFL && g_previous_bus.sa_handler != SIG_IGN)
    return g_previous_bus.sa_handler(sig);
  ::signal(SIGBUS, SIG_DFL);
  ::raise(SIGBUS);
}

// The XXH3-64 of mapped bytes; false if reading them raised SIGBUS.
bool HashMapped(const char* data, size_t length, uint64_t* hash) {
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction sa {};
    sa.sa_sigaction = OnBus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous_bus);
  });
  sigjmp_buf guard;
  if (sigsetjmp(guard, 1) != 0) {
    t_bus_guard = nullptr;
    return false;
  }
  t_bus_guard = &guard;
  *hash = Xxh3(data, length);
  t_bus_guard = nullptr;
  return true;
}

}  // namespace

struct DataFiles::File {
  uint32_t id = 0;
  const char* map = nullptr;
  std::atomic<uint64_t> size{0};     // bytes known to be in the file
  std::shared_ptr<UniqueFd> writer;  // only while this is the file appended to
  ~File() {
    if (map) ::munmap(const_cast<char*>(map), kMapBytes);
  }
};

struct DataFiles::State {
  std::string dir;
  bool read_only = false;

  std::mutex mu;  // guards everything below
  std::map<uint32_t, std::shared_ptr<File>> files;
  std::shared_ptr<File> current;
  uint64_t append_at = 0;
  uint32_t next_id = 1;
  std::set<uint32_t> unsynced;
  bool dir_unsynced = false;
  std::unordered_map<uint64_t, int> leases;
  std::unordered_map<uint64_t, Extent> deferred;  // released while leased

  std::string PathOf(uint32_t id) const { return dir + "/" + FileName(id); }

  // The mapped file `id`, opened on first use. mu held.
  Result<std::shared_ptr<File>> Get(uint32_t id) {
    if (auto it = files.find(id); it != files.end()) return it->second;
    auto fd = OpenFile(PathOf(id), O_RDONLY);
    if (!fd.ok()) {
      return Status::Corruption("data file " + PathOf(id) +
                                " of the store is unreadable: " + fd.status().message());
    }
    auto f = std::make_shared<File>();
    f->id = id;
    RETURN_IF_ERROR(Map(*f, fd->get()));
    files.emplace(id, f);
    return f;
  }

  static Status Map(File& f, int fd) {
    struct stat st;
    if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, "stat data file");
    void* p = ::mmap(nullptr, kMapBytes, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return Status::FromErrno(errno, "map data file");
    f.map = static_cast<const char*>(p);
    f.size = static_cast<uint64_t>(st.st_size);
    return Status::Ok();
  }

  // A new file to append to. mu held.
  Status StartFile() {
    auto f = std::make_shared<File>();
    f->id = next_id++;
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(PathOf(f->id), O_RDWR | O_CREAT | O_EXCL, 0600));
    RETURN_IF_ERROR(Map(*f, fd.get()));
    f->writer = std::make_shared<UniqueFd>(std::move(fd));
    if (current) current->writer.reset();  // closed when its last append is done
    files[f->id] = f;
    current = std::move(f);
    append_at = 0;
    dir_unsynced = true;
    return Status::Ok();
  }

  // Punches [from, to) of file `id` out; deletes the file when nothing is left in it and it is
  // not the one appended to. mu held.
  void Punch(uint32_t id, uint64_t from, uint64_t to) {
    const std::string path = PathOf(id);
    UniqueFd fd(RetryOnEintr([&] { return ::open(path.c_str(), O_RDWR | O_CLOEXEC); }));
    if (!fd.valid()) {
      IMGFS_LOG(Warning) << "free space in " << path << ": " << std::strerror(errno);
      return;
    }
    if (to > from && ::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                 static_cast<off_t>(from), static_cast<off_t>(to - from)) != 0) {
      IMGFS_LOG(Warning) << "free space in " << path << ": " << std::strerror(errno);
      return;
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || st.st_blocks != 0) return;
    if (current && current->id == id) return;
    if (::unlink(path.c_str()) != 0) {
      IMGFS_LOG(Warning) << "remove empty " << path << ": " << std::strerror(errno);
      return;
    }
    files.erase(id);
    dir_unsynced = true;
  }

  void Unlease(uint64_t key) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = leases.find(key);
    if (it == leases.end() || --it->second > 0) return;
    leases.erase(it);
    if (auto d = deferred.find(key); d != deferred.end()) {
      Extent e = d->second;
      deferred.erase(d);
      Punch(e.file, e.offset, AlignUp(e.offset + e.length));
    }
  }
};

// Keeps a mapped file and one extent's lease alive for the views handed out.
struct DataFiles::Lease {
  std::shared_ptr<State> state;
  std::shared_ptr<File> file;
  uint64_t key;
  ~Lease() { state->Unlease(key); }
};

DataFiles::DataFiles(std::shared_ptr<State> state) : state_(std::move(state)) {}
DataFiles::~DataFiles() = default;

Result<std::unique_ptr<DataFiles>> DataFiles::Open(const std::string& dir, bool read_only) {
  auto state = std::make_shared<State>();
  state->dir = dir;
  state->read_only = read_only;
  if (!read_only && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::FromErrno(errno, "create " + dir);
  // New appends go to a new file: never after the tail a crashed writer may have left.
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      state->next_id = std::max(state->next_id, ParseFileName(e->d_name) + 1);
    ::closedir(d);
  } else if (errno != ENOENT) {
    return Status::FromErrno(errno, "read " + dir);
  }
  return std::unique_ptr<DataFiles>(new DataFiles(std::move(state)));
}

Result<DataFiles::Extent> DataFiles::Append(std::string_view bytes) {
  State& s = *state_;
  if (s.read_only) return Status::Internal("append to a store opened read-only");
  if (bytes.size() > kMaxAppend)
    return Status::InvalidArgument("chunk of " + std::to_string(bytes.size()) +
                                   " bytes is too large");
  std::shared_ptr<File> f;
  std::shared_ptr<UniqueFd> fd;
  uint64_t at;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (!s.current || s.append_at >= kRollBytes || s.append_at + bytes.size() > kMapBytes)
      RETURN_IF_ERROR(s.StartFile());
    f = s.current;
    fd = f->writer;
    at = s.append_at;
    s.append_at = AlignUp(at + bytes.size());
    s.unsynced.insert(f->id);
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd->get(), bytes.data() + done, bytes.size() - done,
                         static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::FromErrno(n < 0 ? errno : EIO, "write " + s.PathOf(f->id));
    done += static_cast<size_t>(n);
  }
  uint64_t end = at + bytes.size(), seen = f->size.load();
  while (seen < end && !f->size.compare_exchange_weak(seen, end)) {
  }
  if (at / kWritebackBytes != end / kWritebackBytes) {
    // Only a start: appends still in flight there are written back by Sync().
    const uint64_t from = (end / kWritebackBytes - 1) * kWritebackBytes;
    (void)::sync_file_range(fd->get(), static_cast<off_t>(from),
                            static_cast<off_t>(kWritebackBytes), SYNC_FILE_RANGE_WRITE);
  }
  return Extent{f->id, at, static_cast<uint32_t>(bytes.size())};
}

Result<SharedBytes> DataFiles::Map(const Extent& e, uint64_t xxh3) {
  State& s = *state_;
  const uint64_t key = KeyOf(e.file, e.offset);
  std::shared_ptr<File> f;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    ASSIGN_OR_RETURN(f, s.Get(e.file));
    s.leases[key]++;
  }
  std::shared_ptr<const Lease> lease(new Lease{state_, f, key});
  const uint64_t end = e.offset + e.length;
  if (end > f->size.load()) {  // appended by another process since we mapped it?
    struct stat st;
    if (::stat(s.PathOf(e.file).c_str(), &st) == 0) {
      uint64_t seen = f->size.load();
      while (seen < uint64_t(st.st_size) && !f->size.compare_exchange_weak(seen, st.st_size)) {
      }
    }
    if (end > f->size.load() || end > kMapBytes)
      return Status::Corruption("extent " + std::to_string(e.offset) + "+" +
                                std::to_string(e.length) + " lies past the end of " +
                                s.PathOf(e.file));
  }
  uint64_t hash = 0;
  if (!HashMapped(f->map + e.offset, e.length, &hash))
    return Status::Corruption("reading extent " + std::to_string(e.offset) + "+" +
                              std::to_string(e.length) + " of " + s.PathOf(e.file) +
                              " faulted (an I/O error, or the file was cut short)");
  if (hash != xxh3)
    return Status::Corruption("extent " + std::to_string(e.offset) + "+" +
                              std::to_string(e.length) + " of " + s.PathOf(e.file) +
                              " fails its checksum");
  return SharedBytes(std::move(lease), std::string_view(f->map + e.offset, e.length));
}

void DataFiles::WillNeed(std::vector<Extent> extents) {
  State& s = *state_;
  std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) {
    return std::tie(a.file, a.offset) < std::tie(b.file, b.offset);
  });
  for (size_t i = 0; i < extents.size();) {
    // One call per run of neighbouring extents.
    const uint32_t id = extents[i].file;
    const uint64_t from = AlignDown(extents[i].offset);
    uint64_t to = AlignUp(extents[i].offset + extents[i].length);
    for (++i; i < extents.size() && extents[i].file == id && AlignDown(extents[i].offset) <= to;
         ++i)
      to = std::max(to, AlignUp(extents[i].offset + extents[i].length));
    std::shared_ptr<File> f;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      auto got = s.Get(id);
      if (!got.ok()) continue;
      f = std::move(*got);
    }
    if (to <= kMapBytes)
      (void)::madvise(const_cast<char*>(f->map) + from, to - from, MADV_WILLNEED);
  }
}

void DataFiles::Release(const Extent& e) {
  State& s = *state_;
  if (s.read_only) return;
  std::lock_guard<std::mutex> lock(s.mu);
  const uint64_t key = KeyOf(e.file, e.offset);
  if (s.leases.count(key)) {
    s.deferred[key] = e;
    return;
  }
  s.Punch(e.file, e.offset, AlignUp(e.offset + e.length));
}

Status DataFiles::ReclaimUnreferenced(std::vector<Extent> live) {
  State& s = *state_;
  if (s.read_only) return Status::Internal("reclaim in a store opened read-only");
  std::sort(live.begin(), live.end(), [](const Extent& a, const Extent& b) {
    return std::tie(a.file, a.offset) < std::tie(b.file, b.offset);
  });
  std::set<uint32_t> ids;
  if (DIR* d = ::opendir(s.dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (uint32_t id = ParseFileName(e->d_name)) ids.insert(id);
    ::closedir(d);
  }
  std::lock_guard<std::mutex> lock(s.mu);
  std::set<uint32_t> leased(s.unsynced);
  for (const auto& [key, n] : s.leases) leased.insert(static_cast<uint32_t>(key >> 32));
  auto it = live.begin();
  for (uint32_t id : ids) {
    while (it != live.end() && it->file < id) ++it;
    if ((s.current && s.current->id == id) || leased.count(id)) {
      while (it != live.end() && it->file == id) ++it;
      continue;
    }
    struct stat st;
    if (::stat(s.PathOf(id).c_str(), &st) != 0) continue;
    uint64_t from = 0;
    for (; it != live.end() && it->file == id; ++it) {
      if (AlignDown(it->offset) > from) s.Punch(id, from, AlignDown(it->offset));
      from = std::max(from, AlignUp(it->offset + it->length));
    }
    // The tail, and a file with nothing live (Punch deletes it once it holds no blocks).
    s.Punch(id, from, std::max<uint64_t>(from, AlignUp(static_cast<uint64_t>(st.st_size))));
  }
  return Status::Ok();
}

Status DataFiles::Sync() {
  State& s = *state_;
  std::set<uint32_t> ids;
  bool dir_unsynced;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    ids.swap(s.unsynced);
    dir_unsynced = std::exchange(s.dir_unsynced, false);
  }
  Status result = Status::Ok();
  for (uint32_t id : ids) {
    auto fd = OpenFile(s.PathOf(id), O_RDONLY);
    Status st = fd.ok() ? Status::Ok() : fd.status();
    if (st.ok() && ::fdatasync(fd->get()) != 0)
      st = Status::FromErrno(errno, "sync " + s.PathOf(id));
    if (!st.ok()) {
      if (result.ok()) result = st;
      std::lock_guard<std::mutex> lock(s.mu);
      s.unsynced.insert(id);
    }
  }
  if (dir_unsynced) {
    auto dir = OpenFile(s.dir, O_RDONLY | O_DIRECTORY);
    Status st = dir.ok() ? Status::Ok() : dir.status();
    if (st.ok() && ::fsync(dir->get()) != 0) st = Status::FromErrno(errno, "sync " + s.dir);
    if (!st.ok()) {
      if (result.ok()) result = st;
      std::lock_guard<std::mutex> lock(s.mu);
      s.dir_unsynced = true;
    }
  }
  return result;
}

}  // namespace imgfs::store
