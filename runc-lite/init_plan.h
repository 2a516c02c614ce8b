// Everything a container's processes need after clone(), computed before it.
//
// The parent (runc-lite create/run/exec) turns the Spec into these plain structs: every path,
// argv and envp is a NUL-terminated string owned by Arena, capabilities are bit masks, the seccomp
// filter is compiled BPF. The child then runs only syscalls over this data (async-signal-safe;
// no allocation, no locks). Thread-compatible; a plan is read-only once built.
#pragma once

#include <linux/filter.h>
#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace imgfs::runc {

// Owns the strings that the plan's const char* point into. Stable addresses (deque).
class Arena {
 public:
  const char* Str(std::string s) { return store_.emplace_back(std::move(s)).c_str(); }
  // A NULL-terminated array of C strings.
  char* const* Argv(const std::vector<std::string>& v) {
    auto& arr = arrays_.emplace_back();
    for (const auto& s : v) arr.push_back(const_cast<char*>(Str(s)));
    arr.push_back(nullptr);
    return arr.data();
  }

 private:
  std::deque<std::string> store_;
  std::deque<std::vector<char*>> arrays_;
};

enum class MountKind { kNormal, kBind, kProc, kCgroupV1Tmpfs };

struct MountOp {
  MountKind kind = MountKind::kNormal;
  const char* source = nullptr;  // host path or fs source
  int source_fd = -1;          // kBind: a detached clone of the source (open_tree) to attach, or -1
  const char* dest = nullptr;  // relative to the rootfs, no leading '/'
  const char* fstype = nullptr;
  unsigned long flags = 0;        // MS_* without propagation
  unsigned long propagation = 0;  // MS_SHARED/SLAVE/PRIVATE/UNBINDABLE (|MS_REC)
  const char* data = nullptr;
  bool target_is_file = false;   // bind of a non-directory
  bool remount = false;          // bind needs a second remount for FLAGS
  bool idmap = false;            // kBind: idmapped to the container's user namespace
  bool idmap_recursive = false;  // "ridmap": submounts too
};

struct DeviceOp {
  const char* dir = nullptr;        // parent dir relative to the rootfs ("dev")
  const char* name = nullptr;       // basename ("null")
  const char* host_path = nullptr;  // for the bind fallback ("/dev/null")
  mode_t mode = 0;                  // S_IFCHR | 0666
  dev_t dev = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  bool best_effort = false;  // a default node in the image's own /dev: skipped if it cannot be made
};

struct SysctlOp {
  const char* rel = nullptr;  // relative to /proc ("sys/net/ipv4/ip_forward")
  const char* value = nullptr;
};

struct HookOp {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int timeout_s = 0;  // 0 = none
};

// The process that finally execs: attributes shared by a container's init and exec processes.
struct ProcessPlan {
  std::vector<const char*> exec_candidates;  // absolute paths to try in order (PATH search done)
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* cwd = "/";
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  int umask = -1;
  bool set_caps = false;
  uint64_t cap_bounding = 0, cap_effective = 0, cap_permitted = 0, cap_inheritable = 0,
           cap_ambient = 0;
  bool no_new_privs = false;
  struct Rl {
    int resource;
    uint64_t soft, hard;
  };
  std::vector<Rl> rlimits;
  std::vector<sock_filter> seccomp;  // empty = none
  unsigned seccomp_flags = 0;
  bool terminal = false;
  unsigned short rows = 0, cols = 0;
  int console_fd = -1;            // connected console socket, or -1
  std::vector<int> preserve_fds;  // kept open past exec (3..3+N-1 via LISTEN_FDS)
};

struct NsJoin {
  int fd = -1;
  int nstype = 0;
};

struct InitPlan {
  int sync_fd = -1;                  // SOCK_SEQPACKET to the parent
  int fifo_fd = -1;                  // O_PATH of STATE/exec.fifo
  int null_fd = -1;                  // the host's /dev/null, verified char 1:3
  bool restore_signal_mask = false;  // set SIGNAL_MASK first (the runtime blocks signals in create)
  sigset_t signal_mask{};
  std::vector<NsJoin> joins;  // setns() targets, user namespace first
  bool unshare_cgroup = false;
  bool has_user_ns = false;
  bool join_mount_ns = false;          // an existing mount namespace: no rootfs set-up, no pivot
  bool wait_hooks = false;             // stop before pivot_root for createRuntime/Container hooks
  const char* rootfs = nullptr;        // absolute host path
  unsigned long root_propagation = 0;  // for "/" (MS_REC included when recursive)
  const char* rootfs_parent_mount = "/";  // made private so pivot_root works under rshared
  std::vector<MountOp> mounts;
  bool make_devices = false;
  std::vector<DeviceOp> devices;
  std::vector<const char*> mkdirs;  // relative dirs to create first (e.g. cgroup v1 subdirs)
  bool no_pivot = false;
  bool readonly_rootfs = false;
  std::vector<const char*> masked_paths, readonly_paths;  // absolute in the container
  const char* hostname = nullptr;
  const char* domainname = nullptr;
  std::vector<SysctlOp> sysctls;
  std::vector<HookOp> start_hooks;  // startContainer, run in the container after `start`
  ProcessPlan process;
};

// Messages on the sync socket.
enum SyncType : int {
  kSyncGo = 1,
  kSyncHooks = 2,
  kSyncHooksDone = 3,
  kSyncReady = 4,
  kSyncError = 5,
  kSyncStateJson = 6
};
struct SyncMsg {
  int type = 0;
  int err = 0;  // errno for kSyncError
  char text[8192] = {};
};

// Child entry points; never return. They report failures as kSyncError on PLAN.sync_fd.
[[noreturn]] void RunContainerInit(const InitPlan& plan) noexcept;
// Joins nothing itself: applies PLAN (user, caps, rlimits, seccomp...) and execs; for `exec`.
// SYNC_FD receives kSyncError on failure (or -1).
[[noreturn]] void RunExecProcess(const ProcessPlan& plan, const std::vector<NsJoin>& joins,
                                 int sync_fd) noexcept;

}  // namespace imgfs::runc
