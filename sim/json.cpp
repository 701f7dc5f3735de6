#include "sim/json.hpp"

#include <cstdio>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace scopehub::sim {

std::string timestamp_text(double uptime_s) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9f", uptime_s < 0 ? 0.0 : uptime_s);
  return buf;
}

std::string to_json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w{sb};
  v.Accept(w);
  return {sb.GetString(), sb.GetSize()};
}

jobj& jobj::set_pair(std::string_view key, double a, double b) {
  rapidjson::Value arr{rapidjson::kArrayType};
  arr.PushBack(a, doc_.GetAllocator());
  arr.PushBack(b, doc_.GetAllocator());
  return put(key, std::move(arr));
}

jobj& jobj::set_strings(std::string_view key,
                        std::initializer_list<std::string_view> xs) {
  rapidjson::Value arr{rapidjson::kArrayType};
  for (auto x : xs)
    arr.PushBack(rapidjson::Value{x.data(),
                                  static_cast<rapidjson::SizeType>(x.size()),
                                  doc_.GetAllocator()},
                 doc_.GetAllocator());
  return put(key, std::move(arr));
}

jobj& jobj::put(std::string_view key, rapidjson::Value&& v) {
  auto& a = doc_.GetAllocator();
  rapidjson::Value k{key.data(), static_cast<rapidjson::SizeType>(key.size())};
  if (auto it = doc_.FindMember(k); it != doc_.MemberEnd()) {
    it->value = v;
    return *this;
  }
  doc_.AddMember(rapidjson::Value{key.data(),
                                  static_cast<rapidjson::SizeType>(key.size()),
                                  a},
                 v, a);
  return *this;
}

} // namespace scopehub::sim
