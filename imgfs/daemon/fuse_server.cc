#define FUSE_USE_VERSION 312
#include "imgfs/daemon/fuse_server.h"

#include <fuse_lowlevel.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <system_error>
#include <vector>

#include "core/log.h"

namespace imgfs::daemon {
namespace {

// Images are immutable: the kernel may cache names and attributes for a day.
constexpr double kCacheTimeout = 86400.0;

}  // namespace

// The session's userdata is its FuseMount; its friend reaches the filesystem and records INIT.
struct FuseCallbacks {
  static ImageFs& Fs(void* userdata) { return *static_cast<FuseMount*>(userdata)->fs_; }
  static void RecordInit(void* userdata, const FuseInitParams& params) {
    auto* m = static_cast<FuseMount*>(userdata);
    std::lock_guard<std::mutex> lock(m->init_mu_);
    m->init_ = params;
    m->init_cv_.notify_all();
  }
};

namespace {

ImageFs& Fs(fuse_req_t req) { return FuseCallbacks::Fs(fuse_req_userdata(req)); }

// Every callback is a noexcept trampoline that always replies.
// Runs BODY, turning exceptions into error replies; what it logs names the mount and image.
template <typename F>
void Guard(fuse_req_t req, F body) noexcept {
  ScopedLogFields fields(&Fs(req).log_fields());
  try {
    body();
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  } catch (...) {
    fuse_reply_err(req, EIO);
  }
}

bool FillEntry(ImageFs& fs, uint64_t ino, fuse_entry_param* e) {
  std::memset(e, 0, sizeof *e);
  if (fs.GetAttr(ino, &e->attr) != 0) return false;
  e->ino = ino;
  e->generation = 1;
  e->attr_timeout = kCacheTimeout;
  e->entry_timeout = kCacheTimeout;
  return true;
}

// Whether the kernel opens directories without asking (FUSE_NO_OPENDIR_SUPPORT, Linux 5.1+):
// OpOpenDir then answers ENOSYS once and the kernel stops sending OPENDIR and RELEASEDIR, two
// of the five requests a cold directory walk used to cost per directory (find over the scipy
// image: 0.31 -> 0.25 s, host 0.21 s). What is lost is the kernel's cache of directory listings
// (cache_readdir), which only helps a directory listed twice; dentries and attributes stay cached.
// A kernel property, the same for every mount of the daemon.
std::atomic<bool> g_no_opendir{false};
// The same for files (FUSE_NO_OPEN_SUPPORT, Linux 3.x+): OpOpen answers ENOSYS once and the
// kernel opens files itself, keeping their page cache (FOPEN_KEEP_CACHE, as OpOpen asked) and
// sending neither OPEN nor RELEASE. `import numpy` opens ~600 files: a second container of a
// mounted image ran it in 136 ms, against 93 ms on ext4, before this. Nothing is lost: the mount
// is read-only, so the kernel refuses every open for writing itself (EROFS).
std::atomic<bool> g_no_open{false};

// libfuse's capability bits and ours (the kernel's names clash with libfuse's, fuse_takeover.h).
constexpr std::pair<uint64_t, uint32_t> kFeatures[] = {
    {FUSE_CAP_ASYNC_READ, FuseInitParams::kAsyncRead},
    {FUSE_CAP_READDIRPLUS, FuseInitParams::kReaddirplus},
    {FUSE_CAP_READDIRPLUS_AUTO, FuseInitParams::kReaddirplusAuto},
    {FUSE_CAP_CACHE_SYMLINKS, FuseInitParams::kCacheSymlinks},
    {FUSE_CAP_NO_OPENDIR_SUPPORT, FuseInitParams::kNoOpendirSupport},
    {FUSE_CAP_NO_OPEN_SUPPORT, FuseInitParams::kNoOpenSupport},
    {FUSE_CAP_PARALLEL_DIROPS, FuseInitParams::kParallelDirops},
    {FUSE_CAP_AUTO_INVAL_DATA, FuseInitParams::kAutoInvalData},
    {FUSE_CAP_ASYNC_DIO, FuseInitParams::kAsyncDio},
    {FUSE_CAP_ATOMIC_O_TRUNC, FuseInitParams::kAtomicOTrunc},
    {FUSE_CAP_EXPORT_SUPPORT, FuseInitParams::kExportSupport},
    {FUSE_CAP_DONT_MASK, FuseInitParams::kDontMask},
    {FUSE_CAP_POSIX_LOCKS, FuseInitParams::kPosixLocks},
    {FUSE_CAP_FLOCK_LOCKS, FuseInitParams::kFlockLocks},
    {FUSE_CAP_EXPLICIT_INVAL_DATA, FuseInitParams::kExplicitInvalData},
};

void OpInit(void* userdata, fuse_conn_info* conn) noexcept {
  // Kept for a daemon that takes this connection over after a crash (fuse_takeover.h).
  FuseInitParams params;
  params.proto_major = conn->proto_major;
  params.proto_minor = conn->proto_minor;
  params.max_readahead = conn->max_readahead;
  for (const auto& [cap, feature] : kFeatures)
    if (conn->capable & cap) params.features |= feature;
  FuseCallbacks::RecordInit(userdata, params);
  if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
  if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) {
    conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
    g_no_opendir = true;
  }
  if (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) {
    conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
    g_no_open = true;
  }
  conn->max_readahead = 1u << 20;
  // libfuse derives the kernel's max_pages (the largest read request) from max_write: 1 MiB
  // reads instead of 128 KiB ones cut the per-request cost eightfold on sequential reads.
  conn->max_write = 1u << 20;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  Guard(req, [&] {
    ImageFs& fs = Fs(req);
    uint64_t ino = 0;
    fuse_entry_param e;
    if (int err = fs.Lookup(parent, name, &ino); err) {
      if (err != ENOENT) return (void)fuse_reply_err(req, err);
      // A negative entry, cached as long as positive ones: the name will never appear.
      std::memset(&e, 0, sizeof e);
      e.entry_timeout = kCacheTimeout;
      return (void)fuse_reply_entry(req, &e);
    }
    if (!FillEntry(fs, ino, &e)) return (void)fuse_reply_err(req, EIO);
    fuse_reply_entry(req, &e);
  });
}

void OpGetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) noexcept {
  Guard(req, [&] {
    struct stat st;
    if (int err = Fs(req).GetAttr(ino, &st)) return (void)fuse_reply_err(req, err);
    fuse_reply_attr(req, &st, kCacheTimeout);
  });
}

void OpReadLink(fuse_req_t req, fuse_ino_t ino) noexcept {
  Guard(req, [&] {
    std::string_view target;
    if (int err = Fs(req).ReadLink(ino, &target)) return (void)fuse_reply_err(req, err);
    fuse_reply_readlink(req, std::string(target).c_str());
  });
}

void OpOpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  Guard(req, [&] {
    uint32_t count;
    if (int err = Fs(req).DirSize(ino, &count)) return (void)fuse_reply_err(req, err);
    if (g_no_opendir) return (void)fuse_reply_err(req, ENOSYS);  // no per-open state to keep
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
  });
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  ImageFs& fs = Fs(req);
  uint32_t count;
  if (int err = fs.DirSize(ino, &count)) return (void)fuse_reply_err(req, err);
  std::vector<char> buf(size);
  size_t used = 0;
  // Offsets: 1 = ".", 2 = "..", i + 3 = entry i.
  for (off_t next = off; next < static_cast<off_t>(count) + 2; ++next) {
    std::string name;
    uint64_t child;
    if (next == 0)
      name = ".", child = ino;
    else if (next == 1)
      name = "..", child = fs.ParentOf(ino);
    else {
      std::string_view n;
      fs.DirEntry(ino, static_cast<uint32_t>(next - 2), &n, &child);
      name.assign(n);
    }
    size_t len;
    if (plus) {
      fuse_entry_param e;
      if (!FillEntry(fs, child, &e)) return (void)fuse_reply_err(req, EIO);
      if (next < 2) e.ino = 0, e.entry_timeout = 0;  // dot entries: no lookup reference
      if (next < 2) e.attr.st_ino = child;
      len = fuse_add_direntry_plus(req, buf.data() + used, size - used, name.c_str(), &e, next + 1);
    } else {
      struct stat st;
      std::memset(&st, 0, sizeof st);
      fs.GetAttr(child, &st);
      st.st_ino = child;
      len = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st, next + 1);
    }
    if (len > size - used) break;
    used += len;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OpReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) noexcept {
  Guard(req, [&] { ReadDir(req, ino, size, off, false); });
}

void OpReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   fuse_file_info*) noexcept {
  Guard(req, [&] { ReadDir(req, ino, size, off, true); });
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  Guard(req, [&] {
    if (int err = Fs(req).CheckOpen(ino, fi->flags)) return (void)fuse_reply_err(req, err);
    if (g_no_open) return (void)fuse_reply_err(req, ENOSYS);  // no per-open state to keep
    fi->keep_cache = 1;  // immutable: keep the page cache across opens
    fuse_reply_open(req, fi);
  });
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) noexcept {
  Guard(req, [&] {
    std::vector<ImageFs::Slice> slices;
    if (int err = Fs(req).Read(ino, static_cast<uint64_t>(off), size, &slices))
      return (void)fuse_reply_err(req, err);
    // Straight from the chunk buffers to the kernel, no gathering copy.
    std::vector<iovec> iov;
    iov.reserve(slices.size());
    for (const auto& s : slices)
      iov.push_back({const_cast<char*>(s.bytes->data()) + s.offset, s.length});
    fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
  });
}

// getxattr/listxattr: a size of 0 asks only for the size the value needs.
void ReplyXattr(fuse_req_t req, size_t size, const std::string& value) {
  if (size == 0) return (void)fuse_reply_xattr(req, value.size());
  if (value.size() > size) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, value.data(), value.size());
}

void OpGetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) noexcept {
  Guard(req, [&] {
    // An image without a single xattr says so once: after ENOSYS the kernel answers every
    // getxattr of this mount itself (EOPNOTSUPP, which overlayfs and file capabilities take as
    // "none"). Overlayfs asks for its own xattrs at every lookup through a new overlay: a
    // container of numpy's image cost ~380 round trips to the daemon before this.
    if (Fs(req).index().xattr_count() == 0) return (void)fuse_reply_err(req, ENOSYS);
    std::string value;
    if (int err = Fs(req).GetXattr(ino, name, &value)) return (void)fuse_reply_err(req, err);
    ReplyXattr(req, size, value);
  });
}

void OpListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) noexcept {
  Guard(req, [&] {
    std::string names;
    if (int err = Fs(req).ListXattr(ino, &names)) return (void)fuse_reply_err(req, err);
    ReplyXattr(req, size, names);
  });
}

void OpStatFs(fuse_req_t req, fuse_ino_t) noexcept {
  Guard(req, [&] {
    struct statvfs st;
    Fs(req).StatFs(&st);
    fuse_reply_statfs(req, &st);
  });
}

void OpAccess(fuse_req_t req, fuse_ino_t ino, int mask) noexcept {
  Guard(req, [&] {
    struct stat st;
    if (int err = Fs(req).GetAttr(ino, &st)) return (void)fuse_reply_err(req, err);
    fuse_reply_err(req, (mask & W_OK) ? EROFS : 0);
  });
}

// The kernel offers FUSE 128 KiB of read-ahead and a filesystem can only lower it at INIT; the
// mount's backing device takes a larger window from sysfs (8 MiB, what a local disk here gets),
// so sequential reads arrive as 1 MiB requests (max_pages is raised through max_write in OpInit),
// several at a time.
// The device number comes from mountinfo: a stat() of the mountpoint would be a FUSE request that
// nobody serves yet.
void RaiseReadAhead(const std::string& mountpoint) {
  FILE* info = std::fopen("/proc/self/mountinfo", "re");
  if (!info) return;
  std::string device;
  char line[4096];
  while (std::fgets(line, sizeof line, info)) {
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...": the last match wins (the newest mount).
    char dev[64], root[1024], point[2048];
    if (std::sscanf(line, "%*d %*d %63s %1023s %2047s", dev, root, point) == 3 &&
        mountpoint == point)
      device = dev;
  }
  std::fclose(info);
  if (device.empty()) return;
  std::string path = "/sys/class/bdi/" + device + "/read_ahead_kb";
  if (FILE* f = std::fopen(path.c_str(), "we")) {
    std::fputs("8192", f);
    std::fclose(f);
  }
}

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.getattr = OpGetAttr;
  ops.readlink = OpReadLink;
  ops.opendir = OpOpenDir;
  ops.readdir = OpReadDir;
  ops.readdirplus = OpReadDirPlus;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.getxattr = OpGetXattr;
  ops.listxattr = OpListXattr;
  ops.statfs = OpStatFs;
  ops.access = OpAccess;
  return ops;
}();

}  // namespace

Status FuseMount::NewSession(const std::string& source) {
  // default_permissions: the kernel checks modes and owners as on any filesystem;
  // allow_other: container processes of any uid may read.
  // fsname: the mount's source in /proc/self/mountinfo, where `imgfs umount` and `imgfs stats`
  // find the store (and so the daemon) serving a mount point. libfuse splits options at commas
  // and takes a backslash as an escape.
  std::string fsname;
  for (char c : source) {
    if (c == ',' || c == '\\') fsname += '\\';
    fsname += c;
  }
  std::vector<std::string> argv_s = {
      "imgfs", "-o", "ro,default_permissions,allow_other,subtype=imgfs,fsname=" + fsname};
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  session_ = fuse_session_new(&args, &kOps, sizeof kOps, this);
  if (!session_) return Status::Internal("fuse_session_new failed");
  return Status::Ok();
}

Status FuseMount::StartLoop() {
  try {
    loop_ = std::thread([this] {
      fuse_loop_config* cfg = fuse_loop_cfg_create();
      // Every thread reads the one descriptor the supervisor holds (see the header).
      fuse_loop_cfg_set_clone_fd(cfg, 0);
      fuse_loop_cfg_set_max_threads(cfg, 32);
      fuse_loop_cfg_set_idle_threads(cfg, 8);
      int rc = fuse_session_loop_mt(session_, cfg);
      fuse_loop_cfg_destroy(cfg);
      if (rc != 0) {
        IMGFS_LOG(Debug) << "FUSE loop for " << mountpoint_ << " ended: " << rc;
      }
      {
        std::lock_guard<std::mutex> lock(init_mu_);
        finished_ = true;
        init_cv_.notify_all();
      }
      if (on_exit_) on_exit_();
    });
  } catch (const std::system_error& e) {  // out of threads: the destructor unmounts again
    return Status::Unavailable("cannot start serving " + mountpoint_ + ": " + e.what());
  }
  return Status::Ok();
}

Result<std::unique_ptr<FuseMount>> FuseMount::Start(ImageFs* fs, const std::string& mountpoint,
                                                    const std::string& source,
                                                    std::function<void()> on_exit) {
  std::unique_ptr<FuseMount> m(new FuseMount());
  m->fs_ = fs;
  m->mountpoint_ = mountpoint;
  m->on_exit_ = std::move(on_exit);
  RETURN_IF_ERROR(m->NewSession(source));
  if (fuse_session_mount(m->session_, mountpoint.c_str()) != 0) {
    fuse_session_destroy(m->session_);
    m->session_ = nullptr;
    return Status::IOError("cannot mount FUSE at " + mountpoint +
                           " (is /dev/fuse available and the mountpoint a directory?)");
  }
  RaiseReadAhead(mountpoint);
  RETURN_IF_ERROR(m->StartLoop());
  return m;
}

Result<std::unique_ptr<FuseMount>> FuseMount::Adopt(ImageFs* fs, UniqueFd fuse_fd,
                                                    const std::string& mountpoint,
                                                    const std::string& source,
                                                    const FuseInitParams& init,
                                                    std::function<void()> on_exit) {
  std::unique_ptr<FuseMount> m(new FuseMount());
  m->fs_ = fs;
  m->mountpoint_ = mountpoint;
  m->on_exit_ = std::move(on_exit);
  RETURN_IF_ERROR(m->NewSession(source));
  // libfuse serves a descriptor named /dev/fd/N instead of mounting (and then owns it).
  const std::string dev = "/dev/fd/" + std::to_string(fuse_fd.get());
  if (fuse_session_mount(m->session_, dev.c_str()) != 0) {
    fuse_session_destroy(m->session_);
    m->session_ = nullptr;
    return Status::Internal("libfuse does not take the FUSE descriptor of " + mountpoint);
  }
  fuse_fd.Release();
  const std::string request = SynthesizedInitRequest(init);
  fuse_buf buf;
  std::memset(&buf, 0, sizeof buf);
  buf.size = request.size();
  buf.mem = const_cast<char*>(request.data());
  fuse_session_process_buf(m->session_, &buf);
  if (fuse_session_exited(m->session_) || !m->WaitForInit(std::chrono::milliseconds(0)).ok())
    return Status::Internal("libfuse refused the INIT replayed for " + mountpoint);
  Status resend = RequestResend(fuse_session_fd(m->session_));
  if (resend.code() == Code::kUnimplemented) {
    IMGFS_LOG(Warning) << mountpoint << ": " << resend.message();
  } else if (!resend.ok()) {
    return Status::IOError("the FUSE connection of " + mountpoint +
                           " is gone: " + resend.message());
  }
  // Served from here on: an unmount is this daemon's to do (until now a failure leaves the
  // mount point alone).
  m->adopted_ = true;
  RETURN_IF_ERROR(m->StartLoop());
  return m;
}

int FuseMount::fuse_fd() const { return session_ ? fuse_session_fd(session_) : -1; }

Result<FuseInitParams> FuseMount::WaitForInit(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(init_mu_);
  init_cv_.wait_for(lock, timeout, [this] { return init_.has_value() || finished_.load(); });
  if (!init_) return Status::Unavailable("no FUSE_INIT on " + mountpoint_);
  return *init_;
}

void FuseMount::Unmount() {
  if (!session_ || unmounted_.exchange(true)) return;
  fuse_session_exit(session_);
  if (!adopted_) return fuse_session_unmount(session_);
  // libfuse did not mount it, so it does not unmount it: detached here, as libfuse would.
  if (::umount2(mountpoint_.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL) {
    IMGFS_LOG(Warning) << "unmount " << mountpoint_ << ": " << std::strerror(errno);
  }
}

FuseMount::~FuseMount() {
  Unmount();
  if (loop_.joinable()) loop_.join();
  if (session_) fuse_session_destroy(session_);
}

}  // namespace imgfs::daemon
