// Reading one HTTP response as curl hands it over (header lines, then body pieces) against what
// the request asked for: the status line, Content-Range, the body kept within its limit, a server
// that ignores Range (200 with the whole blob: only the slice asked for is kept), and the verdict
// on the answer as a Status. No curl in here, so the fuzzer drives it with arbitrary bytes.
//
// Thread-compatible: one reader per transfer attempt.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace imgfs::remote::internal {

// What the request expects of its answer.
struct ExpectedBody {
  bool ranged = false;  // a GET of [offset, offset + length), length > 0
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t max_body = 0;  // not ranged: a longer body is ResourceExhausted
};

class HttpResponseReader {
 public:
  explicit HttpResponseReader(const ExpectedBody& expected) : expected_(expected) {}

  // One header line, with or without its CRLF. A status line ("HTTP/...") starts a new response
  // (after a redirect or a 100 Continue) and forgets the previous one.
  void OnHeaderLine(std::string_view line);
  // A piece of the body; returns how many bytes were taken. Fewer than `n` stops the transfer:
  // the slice asked for is complete (sliced()), the body is too large, or memory ran out.
  size_t OnBody(const char* data, size_t n) noexcept;

  // True when the transfer was stopped because a 200 to a Range request delivered the slice.
  bool sliced() const { return sliced_; }
  long status() const { return status_; }
  // The delay a "Retry-After: SECONDS" header asked for (an HTTP date is not taken), or -1.
  int64_t retry_after_seconds() const { return retry_after_seconds_; }

  // The verdict once the transport finished without error. NAME prefixes messages. Statuses:
  // NotFound (404/410), Unavailable (408/429/5xx, retryable), PermissionDenied (401/403),
  // Corruption (a Range answer that is not the range, more bytes than asked), ResourceExhausted
  // (over max_body, out of memory), IOError (any other non-2xx). On OK, the body.
  Result<std::string> Finish(const std::string& name) &&;
  // The verdict on a transfer stopped by this reader; an empty Status when it did not stop it.
  Status StopReason(const std::string& name) const;

 private:
  const ExpectedBody expected_;
  long status_ = 0;
  bool have_content_range_ = false;
  uint64_t range_first_ = 0, range_last_ = 0;
  int64_t retry_after_seconds_ = -1;
  std::string body_;
  uint64_t stream_pos_ = 0;  // body bytes received from the current response
  bool sliced_ = false;
  bool too_large_ = false;
  bool out_of_memory_ = false;
};

}  // namespace imgfs::remote::internal
