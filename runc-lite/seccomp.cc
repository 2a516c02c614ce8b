#include "runc-lite/seccomp.h"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <memory>

#include "core/fd.h"

namespace imgfs::runc {
namespace {

Result<uint32_t> Action(const std::string& name, std::optional<uint32_t> errno_ret) {
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(errno_ret.value_or(EPERM));
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(errno_ret.value_or(EPERM));
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_NOTIFY")
    return Status::Unimplemented("seccomp action SCMP_ACT_NOTIFY is not supported");
  return Status::InvalidArgument("unknown seccomp action " + name);
}

Result<scmp_compare> Op(const std::string& op) {
  if (op == "SCMP_CMP_NE") return SCMP_CMP_NE;
  if (op == "SCMP_CMP_LT") return SCMP_CMP_LT;
  if (op == "SCMP_CMP_LE") return SCMP_CMP_LE;
  if (op == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
  if (op == "SCMP_CMP_GE") return SCMP_CMP_GE;
  if (op == "SCMP_CMP_GT") return SCMP_CMP_GT;
  if (op == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
  return Status::InvalidArgument("unknown seccomp operator " + op);
}

struct CtxCloser {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

}  // namespace

Result<CompiledSeccomp> CompileSeccomp(const Seccomp& profile) {
  ASSIGN_OR_RETURN(uint32_t def, Action(profile.default_action, profile.default_errno_ret));
  std::unique_ptr<void, CtxCloser> ctx(seccomp_init(def));
  if (!ctx) return Status::InvalidArgument("seccomp_init failed");
  // no_new_privs is the runtime's business, set from process.noNewPrivileges.
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  for (const std::string& arch_name : profile.architectures) {
    std::string a = arch_name;
    if (a.rfind("SCMP_ARCH_", 0) == 0) a = a.substr(10);
    std::transform(a.begin(), a.end(), a.begin(), [](unsigned char c) { return std::tolower(c); });
    uint32_t arch = seccomp_arch_resolve_name(a.c_str());
    if (arch == 0) return Status::InvalidArgument("unknown seccomp architecture " + arch_name);
    int rc = seccomp_arch_add(ctx.get(), arch);
    if (rc != 0 && rc != -EEXIST) return Status::FromErrno(-rc, "seccomp_arch_add " + arch_name);
  }
  for (const SyscallRule& rule : profile.syscalls) {
    ASSIGN_OR_RETURN(uint32_t action, Action(rule.action, rule.errno_ret));
    std::vector<scmp_arg_cmp> cmps;
    for (const SyscallArg& a : rule.args) {
      ASSIGN_OR_RETURN(scmp_compare op, Op(a.op));
      cmps.push_back(scmp_arg_cmp{a.index, op, a.value, a.value_two});
    }
    for (const std::string& name : rule.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;  // unknown here: skip like runc
      if (action == def) continue;          // libseccomp refuses rules equal to the default
      int rc = seccomp_rule_add_array(ctx.get(), action, nr, static_cast<unsigned>(cmps.size()),
                                      cmps.data());
      if (rc != 0) return Status::FromErrno(-rc, "seccomp rule for " + name);
    }
  }
  int mfd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
  if (mfd < 0) return Status::FromErrno(errno, "memfd_create");
  UniqueFd fd(mfd);
  int rc = seccomp_export_bpf(ctx.get(), fd.get());
  if (rc != 0) return Status::FromErrno(-rc, "seccomp_export_bpf");
  off_t size = lseek(fd.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0)
    return Status::Internal("seccomp_export_bpf produced a bad program");
  CompiledSeccomp out;
  out.program.resize(static_cast<size_t>(size) / sizeof(sock_filter));
  ASSIGN_OR_RETURN(
      size_t n,
      PreadFull(fd.get(),
                {reinterpret_cast<uint8_t*>(out.program.data()), static_cast<size_t>(size)}, 0));
  if (n != static_cast<size_t>(size)) return Status::Internal("short read of seccomp program");
  for (const std::string& f : profile.flags) {
    if (f == "SECCOMP_FILTER_FLAG_LOG")
      out.flags |= SECCOMP_FILTER_FLAG_LOG;
    else if (f == "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
      out.flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    else if (f == "SECCOMP_FILTER_FLAG_TSYNC")
      out.flags |= SECCOMP_FILTER_FLAG_TSYNC;
    else
      return Status::InvalidArgument("unknown seccomp flag " + f);
  }
  return out;
}

}  // namespace imgfs::runc
