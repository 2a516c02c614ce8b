#include "gpu-hooks/driver_params.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdlib>

#include "core/fd.h"

namespace imgfs::gpu {

std::string ContainerDriverParams(std::string_view host) {
  std::string out;
  bool found = false;
  while (!host.empty()) {
    size_t nl = host.find('\n');
    std::string_view line = host.substr(0, nl);
    if (line.rfind("ModifyDeviceFiles:", 0) == 0) {
      out += "ModifyDeviceFiles: 0\n";
      found = true;
    } else {
      out.append(line);
      out += '\n';
    }
    if (nl == std::string_view::npos) break;
    host.remove_prefix(nl + 1);
  }
  if (!found) out += "ModifyDeviceFiles: 0\n";
  return out;
}

Result<bool> MaskDriverParams(const std::string& rootfs, const std::string& scratch_dir) {
  // The container's /proc, never through a symlink, and only if it really is procfs: a hostile
  // image cannot point this at a host file.
  int proc = ::open((rootfs + "/proc").c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (proc < 0) return false;
  UniqueFd proc_fd(proc);
  struct statfs fs;
  if (::fstatfs(proc_fd.get(), &fs) != 0 || fs.f_type != PROC_SUPER_MAGIC) return false;
  int params = ::openat(proc_fd.get(), "driver/nvidia/params", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (params < 0) return false;
  UniqueFd params_fd(params);
  std::string host;
  char buf[4096];
  for (;;) {
    ssize_t n = RetryOnEintr([&] { return ::read(params_fd.get(), buf, sizeof buf); });
    if (n < 0) return Status::FromErrno(errno, "read driver params");
    if (n == 0) break;
    host.append(buf, static_cast<size_t>(n));
    if (host.size() > (1u << 20)) return Status::ResourceExhausted("driver params too large");
  }
  if (::mkdir(scratch_dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::FromErrno(errno, "create " + scratch_dir);
  std::string copy = scratch_dir + "/params.XXXXXX";
  int tmp = ::mkstemp(copy.data());
  if (tmp < 0) return Status::FromErrno(errno, "create " + copy);
  UniqueFd tmp_fd(tmp);
  struct Unlink {
    std::string path;
    ~Unlink() { ::unlink(path.c_str()); }
  } unlink_copy{copy};
  RETURN_IF_ERROR(WriteFull(tmp_fd.get(), ContainerDriverParams(host)));
  ::fchmod(tmp_fd.get(), 0444);
  // Mount through the fds: the target is the procfs file opened above, whatever its path is now.
  std::string source = "/proc/self/fd/" + std::to_string(tmp_fd.get());
  std::string target = "/proc/self/fd/" + std::to_string(params_fd.get());
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return Status::FromErrno(errno, "bind driver params");
  const std::string mounted = rootfs + "/proc/driver/nvidia/params";
  if (::mount(nullptr, mounted.c_str(), nullptr,
              MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
    return Status::FromErrno(errno, "remount driver params read-only");
  return true;
}

}  // namespace imgfs::gpu
