// Status and Result<T>: errors as values, never exceptions across module edges
// (LevelDB style). Every fallible public function in libconcierge returns one.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace concierge {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,   // caller's input is malformed (bad image, bad id, bad JSON)
    kNotFound,          // a named thing does not exist
    kAlreadyExists,
    kNoFace,            // an image decoded fine but holds no usable face
    kTooLarge,          // over a configured size or dimension limit
    kIoError,           // filesystem or database trouble, incl. read-only/locked
    kUnavailable,       // a peer (broker, database, HTTP service) cannot be reached
    kPermissionDenied,  // authentication or authorisation refused
    kFailedPrecondition,
    kInternal,
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status NoFace(std::string m) { return {Code::kNoFace, std::move(m)}; }
  static Status TooLarge(std::string m) { return {Code::kTooLarge, std::move(m)}; }
  static Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "<code name>: <message>", or "OK".
  std::string ToString() const;
  // Stable lower-case name of a code, e.g. "not_found"; used in JSON errors.
  static const char* CodeName(Code code);

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a value or an error E: the shape shared by Result<T> and the AWS
// API's AwsResult<T> (http/aws_error.h).
template <typename T, typename E>
class ValueOrError {
 public:
  ValueOrError(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  ValueOrError(E error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  // Requires ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  // Requires !ok().
  const E& error() const { return std::get<E>(v_); }

 private:
  std::variant<T, E> v_;
};

// Either a value or a non-OK Status.
template <typename T>
class Result : public ValueOrError<T, Status> {
 public:
  using ValueOrError<T, Status>::ValueOrError;

  // OK when a value is held.
  Status status() const { return this->ok() ? Status::Ok() : this->error(); }
};

}  // namespace concierge

#define CONCIERGE_CONCAT_INNER(a, b) a##b
#define CONCIERGE_CONCAT(a, b) CONCIERGE_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::concierge::Status _st = (expr);          \
    if (!_st.ok()) return _st;                 \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, Fn());` binds the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr)                                        \
  auto CONCIERGE_CONCAT(_res_, __LINE__) = (expr);                         \
  if (!CONCIERGE_CONCAT(_res_, __LINE__).ok())                             \
    return CONCIERGE_CONCAT(_res_, __LINE__).status();                     \
  lhs = std::move(CONCIERGE_CONCAT(_res_, __LINE__)).value()
