#pragma once

// net/ws_client: the client side of the scopehub protocol for programs
// (farm controllers, scripts, scopectl). One WebSocket to one server,
// kept open for the caller:
//
//   connecting --open--> open --lost--> reconnecting --(backoff)--+
//       ^                                                         |
//       +---------------------------------------------------------+
//   any state --close() or attempt limit--> closed (final)
//
// (A failed reconnect attempt stays in "reconnecting"; each state change
// is reported once.) ws:// and wss:// (OpenSSL; system trust store or
// `ca_file`, host name checked).
//
// - Reconnects forever by default, with exponential backoff and full
//   jitter (protocol/backoff.hpp); exactly one attempt is in flight, and
//   the attempt counter resets once a connection stayed open for
//   `stable_after`.
// - Commands resolve exactly once: the server's response, a local
//   timeout (the command's deadline), or a cancellation (cancel(),
//   close()). A command that is not yet answered when the link drops is
//   sent again after the reconnect with the same id (the server's
//   idempotency makes that safe). Commands issued while offline wait in
//   a bounded queue; one whose deadline passes there fails locally and is
//   never sent. A command the server refuses as a frame (an `error` whose
//   ref_id is the command id, e.g. INVALID_PARAMETERS) ends as `failed`
//   like a failed command_response.
// - Subscriptions live in the client and are sent again after every
//   reconnect with `resume_from` (the last seq seen per category), so a
//   consumer sees each update once, in order, or a full snapshot. When a
//   delta of a new epoch arrives (the server restarted), the client drops
//   deltas of that topic and asks for a full snapshot (unsubscribe +
//   subscribe without resume_from) before delivering anything more.
// - A merged status model per telescope (protocol::merge).
//
// Threading: all state lives on one strand of the caller's io_context;
// public member functions may be called from any thread (they post), and
// every callback runs on an io_context thread, on that strand. Set the
// callbacks before start(). Never wait on a returned future from inside a
// callback (it needs the strand). The destructor posts close() with the
// callbacks cleared; destroy the client before its io_context. Beast
// stays in ws_client.cpp.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/backoff.hpp"
#include "protocol/message.hpp"

namespace boost::asio {
class io_context;
} // namespace boost::asio

namespace scopehub::net {

/// Life cycle of the client's connection.
enum class connection_state : uint8_t {
  connecting,
  open,
  reconnecting,
  closed
};

/// "connecting", "open", "reconnecting" or "closed".
std::string_view to_string(connection_state x) noexcept;

/// What the offline queue does when it is full.
enum class queue_policy : uint8_t {
  /// Fail the new command at once (status `rejected`).
  reject_new,
  /// Fail the oldest queued command (status `rejected`), queue the new.
  drop_oldest,
};

/// How the token travels on the upgrade request.
enum class token_transport : uint8_t { header, query, both };

/// Settings of a ws_client. Defaults follow issue 5 and protocol.md.
struct ws_client_options {
  /// ws:// or wss://host:port[/path][?query]; the path defaults to
  /// /api/ws.
  std::string url = "ws://127.0.0.1:8000/api/ws";
  /// wss://: trust these CA certificates (PEM file) instead of the
  /// system's store.
  std::string ca_file;
  /// wss://: check the server's certificate and host name.
  bool verify_peer = true;
  /// Bearer token; empty: none (open server).
  std::string token;
  /// `Authorization: Bearer` (default), `?token=`, or both.
  token_transport token_via = token_transport::header;
  /// Sent as the `client_id` query parameter (the idempotency identity
  /// of an unauthenticated client). Empty without a token: one made from
  /// id_prefix, so that retries after a reconnect are deduplicated.
  std::string client_id;
  /// First reconnect step and the largest one (full jitter below both).
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{30000};
  /// Full jitter ([0, step]) by default; equal jitter ([step/2, step])
  /// keeps a minimum pause.
  backoff_jitter jitter = backoff_jitter::full;
  /// An open connection this old resets the backoff to its base.
  std::chrono::milliseconds stable_after{10000};
  /// Bound of one connection attempt (resolve, TCP, upgrade).
  std::chrono::milliseconds connect_timeout{5000};
  /// Failed attempts in a row before giving up (closed); 0 = never.
  unsigned max_attempts = 0;
  /// Offline queue bounds: commands and bytes of their frames.
  size_t queue_max_count = 256;
  size_t queue_max_bytes = 1024 * 1024;
  queue_policy when_full = queue_policy::reject_new;
  /// Timeout of a command sent with a zero timeout.
  std::chrono::milliseconds default_timeout{10000};
  /// A client `heartbeat` goes out this often while open; 0: never.
  std::chrono::milliseconds heartbeat_interval{15000};
  /// Largest frame accepted from the server.
  size_t max_message_size = 4 * 1024 * 1024;
  /// Prefix of command ids; empty: a random one (ids are unique per
  /// client object, and the prefix keeps them apart across runs).
  std::string id_prefix;
  /// Seed of the jitter; 0: from std::random_device.
  uint32_t seed = 0;
};

/// How a command ended.
enum class command_status : uint8_t {
  /// A command_response with success true.
  ok,
  /// A command_response with success false (see response->code).
  failed,
  /// No response before the deadline (also: expired in the queue).
  timeout,
  /// cancel(), or close() while it was pending.
  cancelled,
  /// Never sent: offline queue full, bad arguments, client closed.
  rejected,
};

/// "ok", "failed", "timeout", "cancelled" or "rejected".
std::string_view to_string(command_status x) noexcept;

/// Outcome of one command, delivered exactly once.
struct command_result {
  command_status status = command_status::rejected;
  std::string command_id;
  /// The server's answer, when one arrived (ok and failed).
  std::optional<protocol::command_response> response;
  /// Why, for the local outcomes (timeout, cancelled, rejected).
  std::string message;
  /// True if the command's frame was written to a socket at least once.
  bool sent = false;
};

/// A command in flight, as send_command returns it for futures.
struct pending_command {
  std::string id;
  std::future<command_result> result;
};

/// One status update after the client merged it into its model.
struct status_event {
  std::string telescope;
  protocol::status_update update;
  /// Every field of the category as merged so far (compact JSON object).
  std::string merged;
};

class ws_client {
 public:
  using state_handler = std::function<void(connection_state)>;
  using message_handler = std::function<void(const protocol::server_message&)>;
  using raw_handler = std::function<void(std::string_view)>;
  using status_handler = std::function<void(const status_event&)>;
  using command_handler = std::function<void(command_result)>;
  using progress_handler
    = std::function<void(const protocol::command_progress&)>;

  /// Does not connect yet; see start().
  ws_client(boost::asio::io_context& ioc, ws_client_options opts);

  /// Closes (as close()) and lets pending I/O finish on the io_context.
  ~ws_client();

  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  // -- callbacks: set before start() ------------------------------------------

  /// Every state change, in order.
  void on_state(state_handler f);
  /// Every parsed server message (after the client's own bookkeeping).
  void on_message(message_handler f);
  /// Every text frame received, verbatim (before parsing).
  void on_raw(raw_handler f);
  /// Every text frame the client writes, verbatim.
  void on_sent(raw_handler f);
  /// Status updates of subscribed topics, deduplicated by seq.
  void on_status(status_handler f);

  // -- life cycle ----------------------------------------------------------

  /// Starts connecting. Calling it twice has no effect.
  void start();

  /// Closes the link for good: pending and queued commands resolve as
  /// cancelled, the state goes to closed. Idempotent.
  void close();

  /// Drops the current connection abruptly, as a network failure would;
  /// the client then reconnects by its policy (for tests and tools).
  void drop_connection();

  // -- commands --------------------------------------------------------------

  /// Sends `action` with `params_json` (a JSON object) to `telescope`.
  /// `timeout` 0 means options.default_timeout; it is also sent as
  /// timeout_ms (capped at protocol::max_timeout_ms). `done` runs exactly
  /// once. Returns the command id (for cancel()).
  std::string send_command(std::string telescope, std::string action,
                           std::string params_json,
                           std::chrono::milliseconds timeout,
                           command_handler done,
                           progress_handler progress = {});

  /// As above, with a future instead of a handler.
  pending_command send_command(std::string telescope, std::string action,
                               std::string params_json = "{}",
                               std::chrono::milliseconds timeout = {},
                               progress_handler progress = {});

  /// Cancels a command of this client: resolves it as cancelled at once
  /// and, when it was already sent, asks the server to stop it (action
  /// `cancel`). Unknown or finished ids are ignored.
  void cancel(const std::string& command_id);

  /// Resolves (true) once the server answered a no-op frame sent now:
  /// every frame the server sent before is then in (e.g. the fleet list
  /// after connecting). False when the client closes first.
  std::future<bool> round_trip();

  // -- subscriptions ---------------------------------------------------------

  /// Subscribes to `categories` ("all", "position", ...) of `telescope`
  /// (empty: every telescope). Kept and re-sent after each reconnect.
  void subscribe(std::string telescope,
                 std::vector<std::string> categories = {"all"});

  /// Drops what subscribe() added for `telescope` and tells the server.
  void unsubscribe(std::string telescope);

  // -- queries (post to the strand; wait only if you ask the future) ------

  /// Current connection state.
  std::future<connection_state> state();

  /// The merged status of one category of one telescope as a compact JSON
  /// object ("{}" when nothing is known).
  std::future<std::string> status(std::string telescope,
                                  protocol::category cat);

  /// Telescopes announced by the server (telescope_discovered), latest
  /// state each; lost ones say "lost".
  std::future<std::vector<protocol::telescope_info>> telescopes();

  /// Number of commands waiting in the offline queue.
  std::future<size_t> queued();

  /// Delays chosen for the reconnects so far, in order (for tests and
  /// logs).
  std::future<std::vector<std::chrono::milliseconds>> reconnect_delays();

  class impl;

 private:
  std::shared_ptr<impl> impl_;
};

} // namespace scopehub::net
