#pragma once

// A small fluent builder for the simulator's JSON objects (events, results)
// over a RapidJSON document, plus the device's uptime timestamp format.

#include <string>
#include <string_view>
#include <type_traits>

#include <rapidjson/document.h>

namespace scopehub::sim {

/// Device `Timestamp`: seconds since boot as a string with 9 decimals.
std::string timestamp_text(double uptime_s);

/// Compact JSON text of a value.
std::string to_json_text(const rapidjson::Value& v);

/// Builds one JSON object: `jobj{}.set("state", "working").set("n", 3)`.
class jobj {
 public:
  jobj() { doc_.SetObject(); }

  jobj(const jobj& other) { doc_.CopyFrom(other.doc_, doc_.GetAllocator()); }

  jobj(jobj&&) = default;

  jobj& operator=(const jobj& other) {
    if (this != &other) doc_.CopyFrom(other.doc_, doc_.GetAllocator());
    return *this;
  }

  jobj& operator=(jobj&&) = default;

  jobj& set(std::string_view key, std::string_view v) {
    return put(key, rapidjson::Value{v.data(),
                                     static_cast<rapidjson::SizeType>(v.size()),
                                     doc_.GetAllocator()});
  }

  jobj& set(std::string_view key, const char* v) {
    return set(key, std::string_view{v});
  }

  jobj& set(std::string_view key, const std::string& v) {
    return set(key, std::string_view{v});
  }

  template<class T>
  std::enable_if_t<std::is_arithmetic_v<T>, jobj&> set(std::string_view key,
                                                       T v) {
    rapidjson::Value x;
    if constexpr (std::is_same_v<T, bool>)
      x.SetBool(v);
    else if constexpr (std::is_floating_point_v<T>)
      x.SetDouble(static_cast<double>(v));
    else if constexpr (std::is_signed_v<T>)
      x.SetInt64(static_cast<int64_t>(v));
    else
      x.SetUint64(static_cast<uint64_t>(v));
    return put(key, std::move(x));
  }

  /// Deep copy of any JSON value.
  jobj& set(std::string_view key, const rapidjson::Value& v) {
    return put(key, rapidjson::Value{v, doc_.GetAllocator()});
  }

  jobj& set(std::string_view key, const jobj& v) {
    return set(key, static_cast<const rapidjson::Value&>(v.doc_));
  }

  /// `key: [a, b]`
  jobj& set_pair(std::string_view key, double a, double b);

  /// `key: ["x", "y", ...]`
  jobj& set_strings(std::string_view key,
                    std::initializer_list<std::string_view> xs);

  rapidjson::Document& doc() { return doc_; }

  const rapidjson::Document& doc() const { return doc_; }

  std::string str() const { return to_json_text(doc_); }

 private:
  jobj& put(std::string_view key, rapidjson::Value&& v);

  rapidjson::Document doc_;
};

} // namespace scopehub::sim
