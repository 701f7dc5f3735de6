#pragma once

// The catalogue of every atom and message shape exchanged between actors
// (and between net/ I/O objects and actors). It is the protocol between
// actors, as docs/protocol.md is the protocol with clients. Every type
// here is serializable (strings, integers, atoms, inspectable structs), so
// it may cross nodes in farm mode; `add_message_types` registers them.
// Messages marked [node] do cross between a farm's gateway and edge
// (actors/farm.hpp), as do caf::subscribe_atom / unsubscribe_atom to topics;
// `farm_message_set` below lists them for the version check.
//
// Naming: commands by their verb, events by what happened.

#include <cstdint>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"
#include "caf/meta/type_name.hpp"
#include "caf/type_id.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(scopehub, caf::first_custom_type_id)

// -- telescope commands (session -> telescope) ------------------------------

/// [node] (command_atom, command_request) -> command_result. Executes one
/// client command; the telescope answers exactly once.
CAF_ADD_ATOM(scopehub, scopehub, command_atom, "command")

/// [node] (progress_atom, command_id, state, detail_json): telescope -> issuer,
/// best-effort progress of a long operation ("accepted" | "working").
CAF_ADD_ATOM(scopehub, scopehub, progress_atom, "progress")

// -- device link (net/line_link -> telescope) -------------------------------

/// (link_up_atom, link_id): the TCP connection to the device is open.
CAF_ADD_ATOM(scopehub, scopehub, link_up_atom, "link_up")

/// (link_line_atom, link_id, line): one line received from the device.
CAF_ADD_ATOM(scopehub, scopehub, link_line_atom, "link_line")

/// (link_down_atom, link_id, reason): connect failed or connection lost.
CAF_ADD_ATOM(scopehub, scopehub, link_down_atom, "link_down")

// -- telescope internals (self-sent timers) ---------------------------------

/// (deadline_atom, generation): a telescope's deadline timer fired.
CAF_ADD_ATOM(scopehub, scopehub, deadline_atom, "deadline")

/// (reconnect_atom, attempt): time to try the device link again.
CAF_ADD_ATOM(scopehub, scopehub, reconnect_atom, "reconnect")

/// (poll_atom): heartbeat and status poll tick of a telescope.
CAF_ADD_ATOM(scopehub, scopehub, poll_atom, "poll")

/// (move_done_atom, key): a timed move's duration elapsed.
CAF_ADD_ATOM(scopehub, scopehub, move_done_atom, "move_done")

/// (lease_atom): the control lease's ttl may have expired.
CAF_ADD_ATOM(scopehub, scopehub, lease_atom, "lease")

// -- status (telescope -> topic -> sessions) --------------------------------

/// (update_atom, fields_json, full): telescope -> topic; a delta (or, with
/// full = true, the whole state after a (re)connect) of one category.
CAF_ADD_ATOM(scopehub, scopehub, update_atom, "update")

/// [node] (deliver_atom, frame, published_ns): topic -> subscriber; one
/// serialized frame and the steady-clock time (ns) the topic published it
/// (0 for a catch-up frame from history); the
/// same shared message for every subscriber.
CAF_ADD_ATOM(scopehub, scopehub, deliver_atom, "deliver")

/// (state_atom, telescope_info): telescope -> directory; online/offline.
CAF_ADD_ATOM(scopehub, scopehub, state_atom, "state")

// -- WebSocket I/O (net/ws_pipe -> session) ---------------------------------

/// (ws_frame_atom, text): one complete text frame from the client.
CAF_ADD_ATOM(scopehub, scopehub, ws_frame_atom, "ws_frame")

/// (ws_binary_atom, size): the client sent a binary frame (unsupported).
CAF_ADD_ATOM(scopehub, scopehub, ws_binary_atom, "ws_binary")

/// (drained_atom, bytes): the pipe wrote `bytes` of queued output.
CAF_ADD_ATOM(scopehub, scopehub, drained_atom, "drained")

/// (closed_atom, code, reason): the WebSocket is gone (read error, close
/// frame, or a close the server asked for); the pipe sends nothing after.
CAF_ADD_ATOM(scopehub, scopehub, closed_atom, "closed")

/// (alive_atom): the client showed liveness (a pong control frame).
CAF_ADD_ATOM(scopehub, scopehub, alive_atom, "alive")

// -- topics and the directory -----------------------------------------------

/// [node] (fleet_atom, telescope_entry, frame): directory -> every session, a
/// `telescope_discovered` / `telescope_lost` frame and the entry it is about.
CAF_ADD_ATOM(scopehub, scopehub, fleet_atom, "fleet")

/// (register_atom, telescope_info, telescope, topics): add a telescope.
CAF_ADD_ATOM(scopehub, scopehub, register_atom, "register")

/// (lookup_atom, id) -> telescope_entry or error: find a telescope.
CAF_ADD_ATOM(scopehub, scopehub, lookup_atom, "lookup")

/// (list_atom) -> std::vector<telescope_info>: every known telescope.
CAF_ADD_ATOM(scopehub, scopehub, list_atom, "list")

/// (heartbeat_atom): supervisor -> session, send a heartbeat frame now.
CAF_ADD_ATOM(scopehub, scopehub, heartbeat_atom, "heartbeat")

/// (stale_atom): supervisor -> session, no liveness for stale_after.
CAF_ADD_ATOM(scopehub, scopehub, stale_atom, "stale")

// -- supervision (heartbeat_supervisor) ---------------------------------------

/// (supervise_atom, telescope_spec): create a telescope (actor, topics,
/// directory entry) unless its id exists, and restart it with backoff
/// whenever it dies abnormally.
CAF_ADD_ATOM(scopehub, scopehub, supervise_atom, "supervise")

/// (restart_atom, id): self-sent, time to restart a crashed telescope.
CAF_ADD_ATOM(scopehub, scopehub, restart_atom, "restart")

/// (stats_atom) -> JSON text: a session describes itself (/api/sessions).
/// (stats_atom) -> (sessions, recent closes JSON): the supervisor's list.
/// (stats_atom, close JSON): a session tells the supervisor how it ended.
CAF_ADD_ATOM(scopehub, scopehub, stats_atom, "stats")

/// (rate_atom, key) -> bool: may client `key` send one more REST command
/// (the message-rate budget per identity, apps/scopehub/http_api)?
CAF_ADD_ATOM(scopehub, scopehub, rate_atom, "rate")

// -- farm mode (actors/farm.hpp) ----------------------------------------------

/// (follow_atom, actor upstream): link -> mirror topic, copy the frames of
/// the upstream topic (an invalid actor: stop following).
CAF_ADD_ATOM(scopehub, scopehub, follow_atom, "follow")

/// [node] (hello_atom, message_set, peer_name) -> nonce: gateway -> edge, the
/// first message of a node link (refused when the message sets differ).
CAF_ADD_ATOM(scopehub, scopehub, hello_atom, "farm_hello")

/// [node] (auth_atom, proof) -> (node, std::vector<telescope_entry>): gateway
/// -> edge, HMAC-SHA256 of the nonce under the farm secret.
CAF_ADD_ATOM(scopehub, scopehub, auth_atom, "farm_auth")

CAF_END_TYPE_ID_BLOCK(scopehub)

namespace scopehub {

/// One client command as the telescope actor sees it. Validated by the
/// session before it is sent (action name and parameters).
struct command_request {
  std::string id;         ///< client-chosen command id (idempotency key)
  std::string identity;   ///< dedup identity: token label, client_id or session
  std::string session;    ///< session id of the issuer (lease holder key)
  std::string role;       ///< "observer", "operator" or "admin"
  std::string action;     ///< wire name of the action
  std::string params;     ///< parameters as a JSON object text
  int64_t timeout_ms = 0; ///< 0: the server default for the action
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_request& x) {
  return f(caf::meta::type_name("command_request"), x.id, x.identity, x.session,
           x.role, x.action, x.params, x.timeout_ms);
}

/// The single outcome of a command; becomes a `command_response` payload.
struct command_result {
  bool success = false;
  std::string error_code; ///< wire name when !success, else empty
  std::string message;    ///< human text for failures
  std::string result;     ///< JSON text of `result` ("null" when none)
  int64_t duration_ms = 0;
  bool duplicate = false; ///< replayed from the idempotency ledger
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_result& x) {
  return f(caf::meta::type_name("command_result"), x.success, x.error_code,
           x.message, x.result, x.duration_ms, x.duplicate);
}

/// What the directory and clients know about a telescope.
struct telescope_info {
  std::string id;
  std::string name;
  std::string model;
  std::string host;
  uint16_t port = 0;
  std::string node; ///< node that owns the telescope ("local" standalone)
  bool online = false;
  std::string reason; ///< why offline, when it is
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, telescope_info& x) {
  return f(caf::meta::type_name("telescope_info"), x.id, x.name, x.model,
           x.host, x.port, x.node, x.online, x.reason);
}

/// A telescope as the directory hands it out: its info, its actor, and
/// its four topic actors indexed by protocol::category.
struct telescope_entry {
  telescope_info info;
  caf::actor telescope;
  std::vector<caf::actor> topics;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, telescope_entry& x) {
  return f(caf::meta::type_name("telescope_entry"), x.info, x.telescope,
           x.topics);
}

/// Where a telescope is and what it is: enough to create its actor.
struct telescope_spec {
  std::string id;
  std::string name;
  std::string model;
  std::string host;
  uint16_t port = 0;
  std::string origin; ///< "sim", "config" or "discovery", for logs
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, telescope_spec& x) {
  return f(caf::meta::type_name("telescope_spec"), x.id, x.name, x.model,
           x.host, x.port, x.origin);
}

/// The message set nodes of a farm exchange: every registered type with
/// its fields, in inspect order, and the atoms that cross nodes. Nodes
/// compare its digest when they connect (actors/farm.hpp); change the text
/// whenever a type above or an atom's meaning changes.
inline constexpr const char* farm_message_set
  = "scopehub-farm/1;"
    "command_request{id,identity,session,role,action,params,timeout_ms};"
    "command_result{success,error_code,message,result,duration_ms,duplicate};"
    "telescope_info{id,name,model,host,port,node,online,reason};"
    "telescope_entry{info,telescope,topics};"
    "telescope_spec{id,name,model,host,port,origin};"
    "std::vector<telescope_entry>;"
    "atoms{command,progress,deliver,fleet,subscribe+epoch,unsubscrib,"
    "farm_hello,farm_auth}";

/// Registers every type above with a config (needed for remote actors).
inline void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<command_request>("scopehub::command_request");
  cfg.add_message_type<command_result>("scopehub::command_result");
  cfg.add_message_type<telescope_info>("scopehub::telescope_info");
  cfg.add_message_type<telescope_entry>("scopehub::telescope_entry");
  cfg.add_message_type<telescope_spec>("scopehub::telescope_spec");
  cfg.add_message_type<std::vector<telescope_entry>>(
    "std::vector<scopehub::telescope_entry>");
}

} // namespace scopehub
