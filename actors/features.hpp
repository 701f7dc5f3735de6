#pragma once

// actors/features: named runtime feature flags (issue 7). Defaults come
// from the config (`[features]`); an admin changes them at run time with
// `PUT /api/features` or the `set_feature` action. Every change is logged
// and audited.
//
//   flag                 off means                          takes effect
//   compression          no permessage-deflate offered      new connections
//   delta_updates        full snapshots on every update     new sessions
//   debug_logs           the configured log level           at once
//   performance_metrics  no timing histograms (clock reads) at once
//   sse_fallback         event streams answer 404           new streams
//
// Not an actor: one atomic per flag, read on hot paths (relaxed loads),
// written only by set(); like actors/metrics, it holds no lock.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/common.h>

namespace scopehub::features {

enum class flag : uint8_t {
  compression,
  delta_updates,
  debug_logs,
  performance_metrics,
  sse_fallback,
};

inline constexpr std::array<flag, 5> all_flags
  = {flag::compression, flag::delta_updates, flag::debug_logs,
     flag::performance_metrics, flag::sse_fallback};

std::string_view to_string(flag f) noexcept;

std::optional<flag> flag_from_string(std::string_view name) noexcept;

/// Sets every flag without logging (start-up, tests). `base_level` is the
/// log level debug_logs returns to when it is switched off.
void init(const std::array<bool, all_flags.size()>& values,
          spdlog::level::level_enum base_level);

/// The defaults of the issue: compression off, the others on except
/// debug_logs.
std::array<bool, all_flags.size()> defaults() noexcept;

bool enabled(flag f) noexcept;

/// The flag's atomic itself, for readers outside actors/ (the listener
/// reads `compression` at each handshake).
std::shared_ptr<const std::atomic<bool>> switch_of(flag f);

/// Changes a flag: applies it, logs it and writes the audit line. Returns
/// the previous value.
bool set(flag f, bool value, std::string_view identity, std::string_view peer,
         std::string_view via);

/// `{"compression":false,"delta_updates":true,...}`
std::string to_json();

} // namespace scopehub::features
