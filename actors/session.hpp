#pragma once

// actors/session: one actor per WebSocket client. It parses and validates
// every frame (protocol/), answers each bad one with a structured error,
// routes commands to telescopes, keeps the client's subscriptions (also
// for telescopes that appear later), writes what topics and the fleet
// deliver, and tracks liveness. All socket I/O goes through its pipe.
//
// Phases:
//
//   joining --fleet list from the directory--> open --close asked--> closing
//      (heartbeat + discovered frames are          |                    |
//       written, client frames wait)               +----closed_atom-----+-->
//       quit
//
// The client is a WebSocket, an event stream (SSE, net/sse_pipe) or one
// REST command (apps/scopehub/http_api): all three are pipes.
//
// Messages (actors/messages.hpp): ws_frame, ws_binary, alive, drained,
// closed from the pipe; (stats_atom) -> JSON for /api/sessions; deliver from
// topics; fleet from the directory; progress from telescopes; heartbeat (tick)
// from the supervisor; (caf::close_atom, code, reason) from the server to close
// it.
//
// Limits (issue 6): a token bucket per session on client frames
// (RATE_LIMITED, then 1008 on sustained abuse), caps on subscriptions
// and pending commands (OVERLOADED), and the token's telescope scope
// (FORBIDDEN; fleet frames and pattern subscriptions only cover allowed
// telescopes).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "actors/deadline_timer.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/outbound.hpp"
#include "caf/actor.hpp"
#include "caf/behavior.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"
#include "net/ws_pipe.hpp"
#include "protocol/json_read.hpp"
#include "protocol/status.hpp"

namespace scopehub {

/// Settings of one session.
struct session_config {
  std::string id;       ///< unique per server run, e.g. "s17"
  std::string peer;     ///< "ip:port", for logs
  std::string identity; ///< idempotency identity (client_id or id)
  std::string role = "operator";
  /// Set for `/api/ws/{telescope_id}`: subscribed to all of it, and the
  /// default target of commands.
  std::string bound_telescope;
  std::chrono::milliseconds heartbeat_interval{30000};
  std::chrono::milliseconds stale_after{75000};
  /// Extra time a session waits for a telescope beyond a command's own
  /// timeout (the telescope answers timeouts itself; this only catches a
  /// telescope that died).
  std::chrono::milliseconds command_grace{5000};
  protocol::parse_options parse;
  /// Telescope ids or globs this client may see, subscribe and command
  /// (its token's scope); empty means every telescope.
  std::vector<std::string> telescopes;
  /// Message budget, a token bucket: `message_rate` client frames per
  /// second on average, `message_burst` at once. A frame over it is not
  /// executed and gets RATE_LIMITED.
  double message_rate = 50.0;
  size_t message_burst = 100;
  /// This many rate-limited frames in a row close the session with 1008.
  size_t rate_abuse_limit = 50;
  /// Subscription entries (ids, patterns, all) one session may hold.
  size_t max_subscriptions = 256;
  /// Commands of one session waiting for their telescope at once.
  size_t max_pending_commands = 64;
  /// Outbound backlog (bytes the pipe has not written yet) past which
  /// status deltas are conflated per topic (actors/outbound.hpp); 0
  /// never conflates. The pipe's own hard limit closes with 4002.
  size_t backlog_soft_limit = 256 * 1024;
  /// How the client is connected (metrics, /api/sessions).
  metrics::transport transport = metrics::transport::websocket;
  /// resume_from of the bound telescope's subscription (an event stream's
  /// Last-Event-ID), by category.
  std::map<protocol::category, uint64_t> resume;
  /// False: every status update goes out as a full snapshot of its
  /// category (the delta_updates feature flag when the session started).
  bool delta_updates = true;
  /// Told how the session ended ((stats_atom, JSON)); may be invalid.
  caf::actor close_listener;
  /// Held as long as the session lives (the app's admission ticket).
  std::shared_ptr<const void> admission;
};

/// One subscription as the client asked for it.
struct subscription {
  enum kind_t { one, pattern, all } kind = all;
  std::string target; ///< telescope id or glob
  std::set<protocol::category> categories;
};

struct session_state {
  static inline const char* name = "session";

  session_state() = default;
  session_state(const session_state&) = delete;
  session_state& operator=(const session_state&) = delete;
  /// Closes the pipe if the actor ends without having closed it (killed,
  /// or an exception): no socket outlives its session.
  ~session_state();

  session_config cfg;
  std::weak_ptr<net::ws_pipe> pipe;
  /// Backlog accounting and conflation of everything written.
  outbound out;
  caf::actor directory;
  caf::actor supervisor;
  bool closing = false;
  uint64_t frames_sent = 0;
  caf::actor_clock::time_point last_seen;
  caf::actor_clock::time_point last_heartbeat;
  /// Subscriptions by key ("id:x", "pattern:g", "all").
  std::map<std::string, subscription> subs;
  /// Every telescope the directory told us about, by id.
  std::map<std::string, telescope_entry> known;
  /// Topic subscriptions in force: (telescope id, category).
  std::set<std::pair<std::string, protocol::category>> active;
  /// A command sent to a telescope and not answered yet.
  struct pending_command {
    std::string id; ///< the client's command id
    std::string telescope;
    bool expected = true;
    protocol::action action{};
    std::string params; ///< for the audit line (empty when audit is off)
    /// The telescope answers by its own deadline; past this one the
    /// session answers COMMAND_TIMEOUT itself (a telescope that hangs).
    caf::actor_clock::time_point deadline;
  };
  /// Commands sent and not answered yet, by ticket (a client may send an
  /// id again while it runs: each send gets its own answer).
  std::map<uint64_t, pending_command> in_flight;
  /// Numbers the commands sent.
  uint64_t tickets = 0;
  /// Armed for the earliest deadline of in_flight.
  deadline_timer deadlines;
  /// Token bucket of the message rate limit.
  double rate_tokens = 0;
  caf::actor_clock::time_point rate_refill;
  /// Rate-limited frames since the last accepted one.
  size_t rate_limited_in_a_row = 0;
  /// Frames refused by the rate limit, in total.
  uint64_t rate_limited_total = 0;
  /// When the session started (age in /api/sessions).
  caf::actor_clock::time_point started;
  /// Publish-to-hand-off delay of the latest live status update (ns);
  /// -1 before the first.
  int64_t lag_ns = -1;
  /// With delta_updates off: the full state per topic ("id/category"),
  /// which every delta is merged into before it goes out.
  std::map<std::string, rapidjson::Document> full_state;
};

using session_ptr = caf::stateful_actor<session_state>*;

/// Spawn with `sys.spawn(session_actor, cfg, pipe, directory, supervisor)`.
/// `supervisor` may be invalid (no heartbeats then).
caf::behavior session_actor(session_ptr self, session_config cfg,
                            std::weak_ptr<net::ws_pipe> pipe,
                            caf::actor directory, caf::actor supervisor);

} // namespace scopehub
