// Status and Result<T>: how dynoguard reports routine failure without
// exceptions. A Status is OK or carries a code and a one-line message;
// Result<T> holds a T or a non-OK Status.
#ifndef DYNOGUARD_COMMON_STATUS_H_
#define DYNOGUARD_COMMON_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace dynoguard::common {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk,
    kInvalidArgument,     // bad input: configuration, request, file contents
    kNotFound,            // a file, process or record that is not there
    kIOError,             // a system call failed
    kUnavailable,         // try again later (peer down, busy, memory pressure)
    kInternal,            // a broken invariant reported instead of aborting
    kPermissionDenied,    // refused for who we are: a key, a quota, a password
    kFailedPrecondition,  // refused for the state it is in (a newer version)
  };

  // An OK status.
  Status() = default;

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string_view message) {
    return Status(Code::kInvalidArgument, message);
  }
  static Status NotFound(std::string_view message) {
    return Status(Code::kNotFound, message);
  }
  // "context: detail", e.g. IOError("open /data/q.db", std::strerror(errno)).
  static Status IOError(std::string_view context, std::string_view detail) {
    return Status(Code::kIOError,
                  std::string(context) + ": " + std::string(detail));
  }
  static Status Unavailable(std::string_view message) {
    return Status(Code::kUnavailable, message);
  }
  static Status Internal(std::string_view message) {
    return Status(Code::kInternal, message);
  }
  static Status PermissionDenied(std::string_view message) {
    return Status(Code::kPermissionDenied, message);
  }
  static Status FailedPrecondition(std::string_view message) {
    return Status(Code::kFailedPrecondition, message);
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "ok" or the message; for logs.
  std::string ToString() const { return ok() ? "ok" : message_; }

 private:
  Status(Code code, std::string_view message)
      : code_(code), message_(message) {}

  Code code_ = Code::kOk;
  std::string message_;
};

// A T on success, else a non-OK Status. Test with ok(); value() REQUIRES: ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status)
      : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.ok());
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_STATUS_H_
