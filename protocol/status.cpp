#include "protocol/status.hpp"

#include <cstring>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace scopehub::protocol {

namespace {

constexpr std::array<std::string_view, 4> category_names{"position", "focus",
                                                         "imaging", "system"};

bool numbers_equal(const rapidjson::Value& a, const rapidjson::Value& b) {
  if (a.IsInt64() && b.IsInt64()) return a.GetInt64() == b.GetInt64();
  if (a.IsUint64() && b.IsUint64()) return a.GetUint64() == b.GetUint64();
  return a.GetDouble() == b.GetDouble();
}

bool objects_equal(const rapidjson::Value& a, const rapidjson::Value& b) {
  if (a.MemberCount() != b.MemberCount()) return false;
  for (auto i = a.MemberBegin(); i != a.MemberEnd(); ++i) {
    auto j = b.FindMember(i->name);
    if (j == b.MemberEnd() || !json_equal(i->value, j->value)) return false;
  }
  return true;
}

bool arrays_equal(const rapidjson::Value& a, const rapidjson::Value& b) {
  if (a.Size() != b.Size()) return false;
  for (rapidjson::SizeType i = 0; i < a.Size(); ++i)
    if (!json_equal(a[i], b[i])) return false;
  return true;
}

} // namespace

std::string_view to_string(category x) noexcept {
  return category_names[static_cast<size_t>(x)];
}

std::optional<category> category_from_string(std::string_view s) noexcept {
  for (size_t i = 0; i < category_names.size(); ++i)
    if (category_names[i] == s) return static_cast<category>(i);
  return std::nullopt;
}

const std::vector<std::string_view>& known_fields(category x) {
  static const std::array<std::vector<std::string_view>, 4> fields{{
    {"ra", "dec", "alt", "az", "tracking", "slewing", "parked"},
    {"focus_position", "focuser_moving"},
    {"view_state", "target_name", "stacked_frames", "dropped_frames",
     "exposure_ms", "gain", "image_enhancement"},
    {"connected", "battery_capacity", "charger_status", "temp",
     "free_storage_mb", "firmware", "model", "controller"},
  }};
  return fields[static_cast<size_t>(x)];
}

std::vector<std::string> merge(rapidjson::Document& state,
                               const rapidjson::Value& delta) {
  std::vector<std::string> changed;
  if (!state.IsObject()) state.SetObject();
  if (!delta.IsObject()) return changed;
  auto& alloc = state.GetAllocator();
  for (auto i = delta.MemberBegin(); i != delta.MemberEnd(); ++i) {
    auto j = state.FindMember(i->name);
    if (j == state.MemberEnd()) {
      rapidjson::Value name{i->name, alloc};
      rapidjson::Value value{i->value, alloc};
      state.AddMember(name, value, alloc);
    } else if (!json_equal(j->value, i->value)) {
      j->value.CopyFrom(i->value, alloc);
    } else {
      continue;
    }
    changed.emplace_back(i->name.GetString(), i->name.GetStringLength());
  }
  return changed;
}

rapidjson::Document diff(const rapidjson::Value& before,
                         const rapidjson::Value& now) {
  rapidjson::Document result{rapidjson::kObjectType};
  if (!now.IsObject()) return result;
  auto& alloc = result.GetAllocator();
  for (auto i = now.MemberBegin(); i != now.MemberEnd(); ++i) {
    if (before.IsObject()) {
      auto j = before.FindMember(i->name);
      if (j != before.MemberEnd() && json_equal(j->value, i->value)) continue;
    }
    rapidjson::Value name{i->name, alloc};
    rapidjson::Value value{i->value, alloc};
    result.AddMember(name, value, alloc);
  }
  return result;
}

bool json_equal(const rapidjson::Value& a, const rapidjson::Value& b) {
  if (a.IsNumber() && b.IsNumber()) return numbers_equal(a, b);
  if (a.GetType() != b.GetType()) return false;
  switch (a.GetType()) {
    case rapidjson::kNullType:
    case rapidjson::kFalseType:
    case rapidjson::kTrueType: return true;
    case rapidjson::kStringType:
      return a.GetStringLength() == b.GetStringLength()
             && std::memcmp(a.GetString(), b.GetString(), a.GetStringLength())
                  == 0;
    case rapidjson::kObjectType: return objects_equal(a, b);
    case rapidjson::kArrayType: return arrays_equal(a, b);
    case rapidjson::kNumberType: return numbers_equal(a, b);
  }
  return false;
}

std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> writer{buf};
  v.Accept(writer);
  return {buf.GetString(), buf.GetSize()};
}

} // namespace scopehub::protocol
