#pragma once

// The simulator's fault plan: what goes wrong on purpose, as a plain
// config struct with a one-line text form (see sim/README.md):
//   latency=200,jitter=50,drop_replies=30,drop_events=10,
//   disconnect_after=20,disconnect_random=0.01,stall=1,garbage_every=5,
//   garbage=0.1,truncate_every=7,truncate=0.1,error_code=207,
//   error_method=scope_park,refuse=1
// "" or "none" is the empty plan.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace scopehub::sim {

struct fault_plan {
  uint32_t latency_ms = 0;       ///< added to every reply
  uint32_t jitter_ms = 0;        ///< +- uniform on top of latency
  double drop_replies_pct = 0;   ///< % of replies never sent
  double drop_events_pct = 0;    ///< % of events not sent (per client)
  uint32_t disconnect_after = 0; ///< close after N messages sent (0: off)
  double disconnect_random = 0;  ///< probability per message to close
  bool stall = false;            ///< stop reading and writing, keep socket
  uint32_t garbage_every = 0;    ///< a non-JSON line before every Nth msg
  double garbage_prob = 0;       ///< ... or with this probability
  uint32_t truncate_every = 0;   ///< cut every Nth message in half
  double truncate_prob = 0;      ///< ... or with this probability
  int error_code = 0;            ///< answer requests with this code
  std::string error_method;      ///< ... only this method (empty: all)
  bool refuse = false;           ///< reset new connections at once

  /// True when any fault is set.
  bool any() const;

  /// Parses the text form; on failure returns nullopt and, when `err` is
  /// set, a message naming the offending item.
  static std::optional<fault_plan> parse(std::string_view spec,
                                         std::string* err = nullptr);

  /// Canonical text form: only the set faults, in a fixed order; "none"
  /// when empty. parse(to_string()) gives an equal plan.
  std::string to_string() const;

  bool operator==(const fault_plan& other) const;
  bool operator!=(const fault_plan& other) const { return !(*this == other); }
};

} // namespace scopehub::sim
