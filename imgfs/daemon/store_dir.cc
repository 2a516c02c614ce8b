#include "imgfs/daemon/store_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fd.h"
#include "core/log.h"

namespace imgfs::daemon {

Result<uid_t> SecureStoreDir(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("no store directory given");
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::FromErrno(errno, "create store " + path);
  // Checked and changed through one fd: the directory cannot be swapped between the two.
  UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return Status::FromErrno(errno, "store " + path);
  struct stat st;
  if (::fstat(dir.get(), &st) != 0) return Status::FromErrno(errno, "stat store " + path);
  const uid_t me = ::geteuid();
  if (st.st_uid != me)
    return Status::PermissionDenied("store " + path + " is owned by uid " +
                                    std::to_string(st.st_uid) + ", not by this user (uid " +
                                    std::to_string(me) + "); refusing to use it");
  if ((st.st_mode & 07777) != 0700) {
    if (::fchmod(dir.get(), 0700) != 0) return Status::FromErrno(errno, "chmod 0700 " + path);
    if (st.st_mode & 077) {
      IMGFS_LOG(Info) << "store " << path << " was mode " << std::oct << (st.st_mode & 07777)
                      << std::dec << "; made it 0700";
    }
  }
  return me;
}

}  // namespace imgfs::daemon
