#include "imgfs/daemon/fuse_takeover.h"

#include <linux/fuse.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/fd.h"
#include "imgfs/daemon/request_fields.h"

namespace imgfs::daemon {
namespace {

// Linux 6.9's notification (the installed <linux/fuse.h> may predate it).
constexpr int32_t kNotifyResend = 7;

constexpr std::pair<uint32_t, uint32_t> kKernelFlags[] = {
    {FuseInitParams::kAsyncRead, FUSE_ASYNC_READ},
    {FuseInitParams::kReaddirplus, FUSE_DO_READDIRPLUS},
    {FuseInitParams::kReaddirplusAuto, FUSE_READDIRPLUS_AUTO},
    {FuseInitParams::kCacheSymlinks, FUSE_CACHE_SYMLINKS},
    {FuseInitParams::kNoOpendirSupport, FUSE_NO_OPENDIR_SUPPORT},
    {FuseInitParams::kParallelDirops, FUSE_PARALLEL_DIROPS},
    {FuseInitParams::kAutoInvalData, FUSE_AUTO_INVAL_DATA},
    {FuseInitParams::kAsyncDio, FUSE_ASYNC_DIO},
    {FuseInitParams::kAtomicOTrunc, FUSE_ATOMIC_O_TRUNC},
    {FuseInitParams::kExportSupport, FUSE_EXPORT_SUPPORT},
    {FuseInitParams::kDontMask, FUSE_DONT_MASK},
    {FuseInitParams::kPosixLocks, FUSE_POSIX_LOCKS},
    {FuseInitParams::kFlockLocks, FUSE_FLOCK_LOCKS},
    {FuseInitParams::kExplicitInvalData, FUSE_EXPLICIT_INVAL_DATA},
    {FuseInitParams::kNoOpenSupport, FUSE_NO_OPEN_SUPPORT},
};

}  // namespace

nlohmann::json FuseInitParams::ToJson() const {
  return {{"proto_major", proto_major},
          {"proto_minor", proto_minor},
          {"max_readahead", max_readahead},
          {"features", features}};
}

Result<FuseInitParams> FuseInitParams::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::InvalidArgument("FUSE init parameters are not an object");
  for (const char* field : {"proto_major", "proto_minor"})
    if (!j.contains(field)) return Status::InvalidArgument(std::string("no ") + field);
  FuseInitParams p;
  ASSIGN_OR_RETURN(uint64_t major, UintField(j, "proto_major", 0, 7, 7));
  ASSIGN_OR_RETURN(uint64_t minor, UintField(j, "proto_minor", 0, 12, UINT32_MAX));
  ASSIGN_OR_RETURN(uint64_t readahead, UintField(j, "max_readahead", 0, 0, UINT32_MAX));
  ASSIGN_OR_RETURN(uint64_t features, UintField(j, "features", 0, 0, UINT32_MAX));
  p.proto_major = static_cast<uint32_t>(major);
  p.proto_minor = static_cast<uint32_t>(minor);
  p.max_readahead = static_cast<uint32_t>(readahead);
  p.features = static_cast<uint32_t>(features);
  return p;
}

std::string SynthesizedInitRequest(const FuseInitParams& params) {
  fuse_in_header header;
  fuse_init_in init;
  std::memset(&header, 0, sizeof header);
  std::memset(&init, 0, sizeof init);
  header.len = sizeof header + sizeof init;
  header.opcode = FUSE_INIT;
  header.unique = kSynthesizedInitUnique;
  init.major = params.proto_major;
  init.minor = params.proto_minor;
  init.max_readahead = params.max_readahead;
  // The kernel negotiated max_pages with the first server; without this flag libfuse would
  // shrink its read buffer below the largest request the kernel sends.
  init.flags = FUSE_MAX_PAGES;
  for (const auto& [ours, kernel] : kKernelFlags)
    if (params.features & ours) init.flags |= kernel;
  std::string bytes(sizeof header + sizeof init, '\0');
  std::memcpy(bytes.data(), &header, sizeof header);
  std::memcpy(bytes.data() + sizeof header, &init, sizeof init);
  return bytes;
}

Status RequestResend(int fuse_fd) {
  fuse_out_header out;
  std::memset(&out, 0, sizeof out);
  out.len = sizeof out;
  out.unique = 0;  // a notification
  out.error = kNotifyResend;
  ssize_t n = RetryOnEintr([&] { return ::write(fuse_fd, &out, sizeof out); });
  if (n == static_cast<ssize_t>(sizeof out)) return Status::Ok();
  if (n < 0 && errno == EINVAL)
    return Status::Unimplemented(
        "the kernel does not know FUSE_NOTIFY_RESEND (Linux 6.9+): requests in flight at the "
        "crash stay unanswered");
  return Status::FromErrno(n < 0 ? errno : EIO, "FUSE_NOTIFY_RESEND");
}

}  // namespace imgfs::daemon
