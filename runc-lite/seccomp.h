// linux.seccomp compiled to a classic BPF program with libseccomp (the one file that includes
// it). The program is built in the runtime before clone() and only loaded by the child, so the
// child runs no library code. Thread-compatible.
#pragma once

#include <linux/filter.h>

#include <vector>

#include "core/status.h"
#include "runc-lite/spec.h"

namespace imgfs::runc {

struct CompiledSeccomp {
  std::vector<sock_filter> program;
  unsigned flags = 0;  // SECCOMP_FILTER_FLAG_*
};

// Compiles the whole profile: defaultAction (+defaultErrnoRet), architectures, syscalls with
// args (AND within a rule) and errnoRet. Unknown syscall names are skipped, as runc does;
// SCMP_ACT_NOTIFY is refused (Unimplemented).
Result<CompiledSeccomp> CompileSeccomp(const Seccomp& profile);

}  // namespace imgfs::runc
