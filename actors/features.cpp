#include "actors/features.hpp"

#include <spdlog/spdlog.h>

#include "actors/audit.hpp"

namespace scopehub::features {

namespace {

constexpr std::array<std::string_view, all_flags.size()> names
  = {"compression", "delta_updates", "debug_logs", "performance_metrics",
     "sse_fallback"};

struct registry {
  std::array<std::shared_ptr<std::atomic<bool>>, all_flags.size()> flags;
  std::atomic<int> base_level{spdlog::level::info};

  registry() {
    auto init = defaults();
    for (size_t i = 0; i < flags.size(); ++i)
      flags[i] = std::make_shared<std::atomic<bool>>(init[i]);
  }
};

registry& global() {
  static registry r;
  return r;
}

size_t index(flag f) noexcept { return static_cast<size_t>(f); }

/// The side effect of a flag that acts on something outside sessions.
void apply(flag f, bool value) {
  if (f == flag::debug_logs) {
    auto base = static_cast<spdlog::level::level_enum>(
      global().base_level.load(std::memory_order_relaxed));
    // The default logger only: the audit trail's logger keeps its level.
    spdlog::default_logger()->set_level(
      value ? std::min(base, spdlog::level::debug) : base);
  }
}

} // namespace

std::string_view to_string(flag f) noexcept { return names[index(f)]; }

std::optional<flag> flag_from_string(std::string_view name) noexcept {
  for (auto f : all_flags)
    if (names[index(f)] == name) return f;
  return std::nullopt;
}

std::array<bool, all_flags.size()> defaults() noexcept {
  return {false, true, false, true, true};
}

void init(const std::array<bool, all_flags.size()>& values,
          spdlog::level::level_enum base_level) {
  auto& r = global();
  r.base_level.store(base_level, std::memory_order_relaxed);
  for (auto f : all_flags) {
    r.flags[index(f)]->store(values[index(f)], std::memory_order_relaxed);
    if (f == flag::debug_logs && values[index(f)]) apply(f, true);
  }
}

bool enabled(flag f) noexcept {
  return global().flags[index(f)]->load(std::memory_order_relaxed);
}

std::shared_ptr<const std::atomic<bool>> switch_of(flag f) {
  return global().flags[index(f)];
}

bool set(flag f, bool value, std::string_view identity, std::string_view peer,
         std::string_view via) {
  auto old = global().flags[index(f)]->exchange(value);
  apply(f, value);
  spdlog::warn("feature {} {} (was {}) by {} from {} via {}", to_string(f),
               value ? "on" : "off", old ? "on" : "off", identity, peer, via);
  audit::feature_change(to_string(f), value, identity, peer, via);
  return old;
}

std::string to_json() {
  std::string out = "{";
  for (auto f : all_flags) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += to_string(f);
    out += "\":";
    out += enabled(f) ? "true" : "false";
  }
  out += '}';
  return out;
}

} // namespace scopehub::features
