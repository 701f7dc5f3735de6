#pragma once

// The status model: four categories of telescope state, each a flat JSON
// object of fields (docs/protocol.md, "Categories and their fields"), and
// the delta logic shared by the telescope (diff), the topics (merge) and
// clients (merge).

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace scopehub::protocol {

/// A status category; one topic per (telescope, category).
enum class category : uint8_t { position, focus, imaging, system };

inline constexpr std::array<category, 4> all_categories{
  category::position, category::focus, category::imaging, category::system};

/// Wire name: "position", "focus", "imaging", "system".
std::string_view to_string(category x) noexcept;

/// Inverse of to_string; nullopt for anything else (including "all").
std::optional<category> category_from_string(std::string_view s) noexcept;

/// The fields the protocol defines for a category, in table order.
/// A telescope may add fields; clients ignore unknown ones.
const std::vector<std::string_view>& known_fields(category x);

/// Merges the members of `delta` (a JSON object) into `state` (a JSON
/// object, created as one if null). Returns the names of the fields whose
/// value actually changed, in the order of `delta`. Values are compared
/// deeply; numbers compare by value (1 == 1.0).
std::vector<std::string> merge(rapidjson::Document& state,
                               const rapidjson::Value& delta);

/// Returns an object holding every field of `now` whose value differs
/// from the same field of `before` (or that `before` lacks). Fields only
/// in `before` are not reported: categories never delete fields.
rapidjson::Document diff(const rapidjson::Value& before,
                         const rapidjson::Value& now);

/// True when two JSON values are equal (deep; numbers by value).
bool json_equal(const rapidjson::Value& a, const rapidjson::Value& b);

/// Compact JSON text of a value.
std::string to_json(const rapidjson::Value& v);

} // namespace scopehub::protocol
