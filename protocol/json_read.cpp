#include "protocol/json_read.hpp"

#include <algorithm>
#include <string_view>
#include <vector>

#include <rapidjson/error/en.h>

namespace scopehub::protocol {

namespace {

constexpr unsigned parse_flags
  = rapidjson::kParseValidateEncodingFlag | rapidjson::kParseFullPrecisionFlag;

// Deepest nesting of `[` and `{` outside strings, stopping as soon as it
// passes `limit`. Escapes inside strings are skipped so `"\"["` counts
// nothing.
size_t nesting_depth(const uint8_t* data, size_t n, size_t limit) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < n; ++i) {
    auto c = data[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

protocol_error invalid_json(std::string message) {
  return protocol_error{error_code::invalid_json, std::move(message), {}};
}

std::string child_path(const std::string& prefix, std::string_view name) {
  if (prefix.empty()) return std::string{name};
  std::string result = prefix;
  result += '.';
  result += name;
  return result;
}

} // namespace

std::optional<protocol_error> read_json_object(const uint8_t* data, size_t n,
                                               rapidjson::Document& out,
                                               const parse_options& opts) {
  if (n == 0 || data == nullptr) return invalid_json("empty frame");
  if (nesting_depth(data, n, opts.max_depth) > opts.max_depth)
    return invalid_json("nesting deeper than " + std::to_string(opts.max_depth)
                        + " levels");
  out.Parse<parse_flags>(reinterpret_cast<const char*>(data), n);
  if (out.HasParseError()) {
    std::string why = rapidjson::GetParseError_En(out.GetParseError());
    if (!why.empty() && why.back() == '.') why.pop_back();
    return invalid_json("not valid JSON: " + why + " (at byte "
                        + std::to_string(out.GetErrorOffset()) + ")");
  }
  if (!out.IsObject()) return invalid_json("a frame must be a JSON object");
  return std::nullopt;
}

std::optional<std::string> find_duplicate_key(const rapidjson::Value& x,
                                              const std::string& prefix) {
  if (x.IsArray()) {
    for (rapidjson::SizeType i = 0; i < x.Size(); ++i) {
      auto sub = prefix + "[" + std::to_string(i) + "]";
      if (auto dup = find_duplicate_key(x[i], sub)) return dup;
    }
    return std::nullopt;
  }
  if (!x.IsObject()) return std::nullopt;
  // Sort the names (stable on index) to find repeats in O(n log n); the
  // first repeat in document order is reported.
  std::vector<std::pair<std::string_view, size_t>> names;
  names.reserve(x.MemberCount());
  size_t index = 0;
  for (auto i = x.MemberBegin(); i != x.MemberEnd(); ++i, ++index)
    names.emplace_back(
      std::string_view{i->name.GetString(), i->name.GetStringLength()}, index);
  std::sort(names.begin(), names.end());
  std::optional<std::pair<size_t, std::string_view>> first_repeat;
  for (size_t i = 1; i < names.size(); ++i)
    if (names[i].first == names[i - 1].first
        && (!first_repeat || names[i].second < first_repeat->first))
      first_repeat.emplace(names[i].second, names[i].first);
  if (first_repeat) return child_path(prefix, first_repeat->second);
  for (auto i = x.MemberBegin(); i != x.MemberEnd(); ++i) {
    auto sub
      = child_path(prefix, {i->name.GetString(), i->name.GetStringLength()});
    if (auto dup = find_duplicate_key(i->value, sub)) return dup;
  }
  return std::nullopt;
}

} // namespace scopehub::protocol
