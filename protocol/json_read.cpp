#include "protocol/json_read.hpp"

#include <algorithm>
#include <string_view>
#include <vector>

#include <rapidjson/error/en.h>

namespace scopehub::protocol {

namespace {

constexpr unsigned parse_flags
  = rapidjson::kParseValidateEncodingFlag | rapidjson::kParseFullPrecisionFlag;

protocol_error invalid_json(std::string message) {
  return protocol_error{error_code::invalid_json, std::move(message), {}};
}

/// Follows string literals through a left-to-right scan of JSON text, so
/// that scans for structure (brackets, numbers) skip what is inside them.
struct string_tracker {
  bool in_string = false;

  /// True when data[i] is structure: outside every string and no quote.
  /// Steps `i` over the character after a backslash inside a string.
  bool outside(const uint8_t* data, size_t& i) {
    auto c = data[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      return false;
    }
    if (c == '"') {
      in_string = true;
      return false;
    }
    return true;
  }
};

bool is_number_char(uint8_t c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e'
         || c == 'E';
}

// RapidJSON 1.1.0 misreads two kinds of numbers under
// kParseFullPrecisionFlag, both by normalizing a zero significand in its
// DiyFp code (__builtin_clzll(0), undefined), which yields garbage:
//  - a zero with an exponent: "0e-310" gives 1.2e86, "-0e300" 2.2e-75;
//  - 20 significant digits 18446744073709551615 then a digit >= 5 (the
//    rounding increment wraps its uint64 significand to 0):
//    "0.184467440737095516155" gives -6.5e-201.
// Such numbers are rewritten in place, keeping their length so error
// offsets do not move: the exponent digits of a zero become '0' (zero
// times any power of ten is zero), and that 21st digit becomes '4' (a
// change of 1e-20 relative, far below a double's resolution). Returns
// false when there is nothing to fix.
bool fix_numbers(const uint8_t* data, size_t n, std::string& out) {
  static constexpr std::string_view uint64_max = "18446744073709551615";
  auto edit = [&](size_t at, char c) {
    if (out.empty()) out.assign(reinterpret_cast<const char*>(data), n);
    out[at] = c;
  };
  string_tracker strings;
  for (size_t i = 0; i < n; ++i) {
    if (!strings.outside(data, i) || !is_number_char(data[i])) continue;
    size_t end = i;
    while (end < n && is_number_char(data[end]))
      ++end;
    // The significand runs up to the exponent marker; count its digits
    // from the first non-zero one.
    size_t exp = i;
    size_t significant = 0;
    bool digits = false;
    for (; exp < end && data[exp] != 'e' && data[exp] != 'E'; ++exp) {
      auto d = data[exp];
      if (d < '0' || d > '9') continue;
      digits = true;
      if (significant == 0 && d == '0') continue;
      if (significant < uint64_max.size()) {
        if (d != static_cast<uint8_t>(uint64_max[significant]))
          significant = uint64_max.size() + 1; // no match: stop looking
        else
          ++significant;
      } else if (significant == uint64_max.size()) {
        if (d >= '5') edit(exp, '4');
        significant = uint64_max.size() + 1;
      }
    }
    if (digits && significant == 0 && exp < end) // a zero with an exponent
      for (size_t k = exp + 1; k < end; ++k)
        if (data[k] >= '1' && data[k] <= '9') edit(k, '0');
    i = end - 1;
  }
  return !out.empty();
}

std::string child_path(const std::string& prefix, std::string_view name) {
  if (prefix.empty()) return std::string{name};
  std::string result = prefix;
  result += '.';
  result += name;
  return result;
}

} // namespace

size_t json_nesting_depth(const uint8_t* data, size_t n, size_t limit) {
  size_t depth = 0;
  size_t deepest = 0;
  string_tracker strings;
  for (size_t i = 0; i < n; ++i) {
    if (!strings.outside(data, i)) continue;
    auto c = data[i];
    if (c == '[' || c == '{') {
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

namespace {

int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// True when a \u escape encodes a low surrogate (DC00-DFFF) that does not
/// directly follow a high one. RapidJSON 1.1.0 rejects a lone high
/// surrogate but turns a lone low one into bytes that are not UTF-8, so
/// the string could never be written back (found by fuzz_frame).
bool has_lone_low_surrogate(const uint8_t* data, size_t n) {
  size_t high_end = 0; // just past the last high-surrogate escape
  for (size_t i = 0; i + 1 < n; ++i) {
    if (data[i] != '\\') continue;
    if (data[i + 1] != 'u' || i + 6 > n) {
      ++i; // an escaped character: skip it
      continue;
    }
    int v = 0;
    for (size_t k = i + 2; k < i + 6; ++k) {
      int h = hex_value(data[k]);
      if (h < 0) return false; // the parser reports the bad escape
      v = v * 16 + h;
    }
    if (v >= 0xDC00 && v <= 0xDFFF && high_end != i) return true;
    high_end = (v >= 0xD800 && v <= 0xDBFF) ? i + 6 : 0;
    i += 5;
  }
  return false;
}

} // namespace

std::optional<protocol_error> read_json_object(const uint8_t* data, size_t n,
                                               rapidjson::Document& out,
                                               const parse_options& opts) {
  if (n == 0 || data == nullptr) return invalid_json("empty frame");
  if (json_nesting_depth(data, n, opts.max_depth) > opts.max_depth)
    return invalid_json("nesting deeper than " + std::to_string(opts.max_depth)
                        + " levels");
  std::string fixed;
  if (fix_numbers(data, n, fixed))
    data = reinterpret_cast<const uint8_t*>(fixed.data());
  out.Parse<parse_flags>(reinterpret_cast<const char*>(data), n);
  if (out.HasParseError()) {
    std::string why = rapidjson::GetParseError_En(out.GetParseError());
    if (!why.empty() && why.back() == '.') why.pop_back();
    return invalid_json("not valid JSON: " + why + " (at byte "
                        + std::to_string(out.GetErrorOffset()) + ")");
  }
  if (!out.IsObject()) return invalid_json("a frame must be a JSON object");
  if (has_lone_low_surrogate(data, n))
    return invalid_json("not valid JSON: a \\u escape encodes a lone "
                        "surrogate");
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
