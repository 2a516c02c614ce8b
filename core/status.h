// Errors as values: Status and Result<T>.
//
// A Status carries a code, a message with context added while it propagates, and whether retrying
// the same operation can help (a flaky network, a busy store) as opposed to data being wrong
// (corruption, bad input), which no retry fixes. Thread-compatible value types.
#pragma once

#include <cerrno>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace imgfs {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // bad input from the user or an image
  kNotFound,         // a named thing does not exist
  kAlreadyExists,
  kCorruption,   // bytes fail a checksum, digest or format check
  kIOError,      // the OS refused (errno kept)
  kUnavailable,  // a remote or resource is down or busy; retryable
  kPermissionDenied,
  kResourceExhausted,  // limits: sizes, counts, disk
  kUnimplemented,
  kInternal,
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {Code::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) { return {Code::kAlreadyExists, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg, int err = 0) {
    Status s(Code::kIOError, std::move(msg));
    s.errno_ = err;
    return s;
  }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) {
    return {Code::kPermissionDenied, std::move(msg)};
  }
  static Status ResourceExhausted(std::string msg) {
    return {Code::kResourceExhausted, std::move(msg)};
  }
  static Status Unimplemented(std::string msg) { return {Code::kUnimplemented, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }

  // The one place errno becomes a Status: "context: strerror(err)".
  static Status FromErrno(int err, std::string_view context);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  int error_number() const { return errno_; }  // 0 unless built from errno
  // True when the same operation may succeed if tried again.
  bool retryable() const;

  // Returns a copy whose message is "context: message".
  Status WithContext(std::string_view context) const;
  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  std::string message_;
  int errno_ = 0;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be OK

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

#define IMGFS_CONCAT_INNER_(a, b) a##b
#define IMGFS_CONCAT_(a, b) IMGFS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    ::imgfs::Status imgfs_status_ = (expr);        \
    if (!imgfs_status_.ok()) return imgfs_status_; \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(IMGFS_CONCAT_(imgfs_result_, __LINE__), lhs, expr)

}  // namespace imgfs
