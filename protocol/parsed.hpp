#pragma once

// The outcome of parsing a frame: a typed value or a protocol error ready
// to be sent back as an `error` message.

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "protocol/errors.hpp"

namespace scopehub::protocol {

/// Why a frame (or part of one) was rejected.
struct protocol_error {
  error_code code;
  /// Human-readable, naming the field, e.g.
  /// "payload.parameters.dec: must be <= 90".
  std::string message;
  /// The offending message's id when it could be read as a string.
  std::optional<std::string> ref_id;
};

bool operator==(const protocol_error& x, const protocol_error& y);
inline bool operator!=(const protocol_error& x, const protocol_error& y) {
  return !(x == y);
}

/// Either a `T` or a protocol_error.
template<class T>
class parsed {
 public:
  parsed(T value) : data_(std::move(value)) {}
  parsed(protocol_error err) : data_(std::move(err)) {}

  /// True when a value was parsed.
  bool ok() const noexcept { return data_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  /// The value; only valid when ok().
  T& value() { return std::get<0>(data_); }
  const T& value() const { return std::get<0>(data_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The error; only valid when !ok().
  const protocol_error& error() const { return std::get<1>(data_); }

 private:
  std::variant<T, protocol_error> data_;
};

} // namespace scopehub::protocol
