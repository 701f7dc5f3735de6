#define CAF_SUITE robustness
#include "caf/test/unit_test.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "protocol/codec.hpp"

using namespace scopehub::protocol;

namespace {

// Valid frames of every client type, used as seeds for damage.
const std::vector<std::string>& seeds() {
  static const std::vector<std::string> frames{
    R"({"id":"c-1","type":"control_command","telescope_id":"s1",)"
    R"("timestamp":1640995200000,"payload":{"action":"goto",)"
    R"("parameters":{"ra":5.5,"dec":-20.25,"target_name":"M 42"},)"
    R"("response_expected":true,"timeout_ms":15000}})",
    R"({"id":"c-2","type":"control_command","payload":{"action":"batch",)"
    R"("parameters":{"commands":[{"action":"move","parameters":)"
    R"({"direction":"up"}},{"action":"park"}]}}})",
    R"({"id":"c-3","type":"subscribe","payload":{"subscription_types":)"
    R"(["position","system"],"resume_from":{"position":120}}})",
    R"({"id":"c-4","type":"unsubscribe","payload":{"telescope_pattern":"s*"}})",
    R"({"id":"c-5","type":"heartbeat","payload":{"x":[1,2,{"y":"\"]"}]}})",
  };
  return frames;
}

// A frame must either parse or fail with a code a frame may produce.
bool acceptable(const parsed<client_message>& res) {
  if (res.ok()) return true;
  switch (res.error().code) {
    case error_code::invalid_json:
    case error_code::invalid_message:
    case error_code::unknown_type:
    case error_code::unknown_action:
    case error_code::invalid_parameters: return !res.error().message.empty();
    default: return false;
  }
}

} // namespace

CAF_TEST(seed frames are valid) {
  for (const auto& s : seeds())
    CAF_CHECK(parse_client_message(s).ok());
}

CAF_TEST(every truncation of a valid frame is rejected cleanly) {
  size_t bad = 0;
  for (const auto& s : seeds())
    for (size_t n = 0; n < s.size(); ++n) {
      auto res
        = parse_client_message(reinterpret_cast<const uint8_t*>(s.data()), n);
      if (res.ok() || res.error().code != error_code::invalid_json) ++bad;
    }
  CAF_CHECK_EQUAL(bad, 0u);
}

CAF_TEST(random byte damage never crashes) {
  std::mt19937 rng{20261201}; // fixed seed: deterministic
  size_t bad = 0;
  for (const auto& s : seeds())
    for (int round = 0; round < 2000; ++round) {
      auto damaged = s;
      auto flips = 1 + rng() % 4;
      for (size_t i = 0; i < flips; ++i)
        damaged[rng() % damaged.size()] = static_cast<char>(rng() % 256);
      if (!acceptable(parse_client_message(damaged))) ++bad;
      if (auto back = parse_server_message(damaged); back.ok())
        ++bad; // client frames are never valid server frames
    }
  CAF_CHECK_EQUAL(bad, 0u);
}

CAF_TEST(deep nesting bombs of every shape are refused before parsing) {
  const size_t n = 100000;
  std::string objects;
  for (size_t i = 0; i < n; ++i)
    objects += R"({"a":)";
  objects += "1" + std::string(n, '}');
  for (const auto& bomb :
       {std::string(n, '['), std::string(n, '{'), objects,
        R"({"id":"a","type":"heartbeat","payload":)" + objects + "}"}) {
    auto res = parse_client_message(bomb);
    CAF_REQUIRE(!res.ok());
    CAF_CHECK_EQUAL(res.error().code, error_code::invalid_json);
    CAF_CHECK_EQUAL(res.error().message, "nesting deeper than 32 levels");
  }
}

CAF_TEST(wide objects are fine and a late duplicate is still found) {
  std::string wide = R"({"id":"w","type":"heartbeat","payload":{)";
  for (int i = 0; i < 5000; ++i)
    wide += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  auto unique = wide + R"("last":0}})";
  CAF_CHECK(parse_client_message(unique).ok());
  auto dup = wide + R"("k17":0}})";
  auto res = parse_client_message(dup);
  CAF_REQUIRE(!res.ok());
  CAF_CHECK_EQUAL(res.error().message, "payload.k17: duplicate field");
  CAF_CHECK_EQUAL(res.error().ref_id.value_or(""), "w");
}
