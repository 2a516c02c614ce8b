// Messages that may carry one file descriptor, over a SOCK_SEQPACKET Unix socket (SCM_RIGHTS):
// how the daemon hands its FUSE connections to its supervisor and back
// (imgfs/daemon/supervisor.h). A message is at most kMaxFdMessage bytes of text; a received
// descriptor is O_CLOEXEC.
// Thread-safety: one sender and one receiver at a time per socket (a datagram is sent whole).
#pragma once

#include <string>
#include <string_view>

#include "core/fd.h"
#include "core/status.h"

namespace imgfs::daemon {

inline constexpr size_t kMaxFdMessage = 64 * 1024;

struct FdMessage {
  std::string text;
  UniqueFd fd;  // invalid when none came with the text
};

// Sends `text` and, when fd >= 0, a duplicate of `fd`.
[[nodiscard]] Status SendFdMessage(int sock, std::string_view text, int fd = -1);
// Blocks for the next message; NotFound at end of stream (the peer closed or died), IOError for
// a message cut short or carrying more than one descriptor (the extra ones are closed).
[[nodiscard]] Result<FdMessage> ReceiveFdMessage(int sock);

}  // namespace imgfs::daemon
