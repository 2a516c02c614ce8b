#include "core/status.h"

#include <cstring>

namespace imgfs {

Status Status::FromErrno(int err, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  Code code = Code::kIOError;
  switch (err) {
    case ENOENT:
      code = Code::kNotFound;
      break;
    case EEXIST:
      code = Code::kAlreadyExists;
      break;
    case EACCES:
    case EPERM:
      code = Code::kPermissionDenied;
      break;
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
      code = Code::kResourceExhausted;
      break;
    case EINVAL:
      code = Code::kInvalidArgument;
      break;
    case EAGAIN:
    case EBUSY:
    case ETIMEDOUT:
    case ECONNREFUSED:
    case ECONNRESET:
      code = Code::kUnavailable;
      break;
    default:
      break;
  }
  Status s(code, std::move(msg));
  s.errno_ = err;
  return s;
}

bool Status::retryable() const {
  if (code_ == Code::kUnavailable) return true;
  if (code_ == Code::kIOError) return errno_ == EINTR || errno_ == EAGAIN || errno_ == EIO;
  return false;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  Status s = *this;
  s.message_ = std::string(context) + ": " + message_;
  return s;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return message_;
}

}  // namespace imgfs
