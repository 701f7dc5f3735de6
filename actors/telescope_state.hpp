#pragma once

// The state of a telescope actor (actors/telescope.hpp) and the helpers
// its two halves share: telescope.cpp (link, sync, status) and
// telescope_commands.cpp (FIFO, device calls, completion, lease, ledger).
//
// Link phases:
//
//   offline --connect--> connecting --link_up--> syncing --all read--> ready
//      ^                     |                      |                    |
//      |                 link_down              link_down /          link_down
//      / |                     |                  sync timeout          stall
//      +---- backing_off <---+----------------------+--------------------+
//
// Commands are accepted in `ready` only (except local ones); leaving
// `ready` answers every pending command TELESCOPE_UNAVAILABLE at once.

#include <array>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <rapidjson/document.h>

#include "actors/deadline_timer.hpp"
#include "actors/messages.hpp"
#include "actors/seestar_driver.hpp"
#include "actors/telescope.hpp"
#include "caf/actor_clock.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_response_promise.hpp"
#include "protocol/seestar.hpp"
#include "protocol/status.hpp"

namespace scopehub {

using time_point = caf::actor_clock::time_point;

enum class link_phase { offline, connecting, syncing, ready, backing_off };

/// One step of a command: a single action (a batch has several).
struct command_step {
  std::string action;
  rapidjson::Document params;
};

enum class command_stage { queued, calling, running };

/// A command between arrival and its one answer.
struct pending_command {
  uint64_t key = 0;
  command_request req;
  caf::typed_response_promise<command_result> rp;
  caf::actor issuer; ///< receives progress notices
  time_point arrival;
  time_point deadline;
  command_stage stage = command_stage::queued;
  std::vector<command_step> steps;
  size_t step = 0;
  seestar_driver::plan plan; ///< of the current step
  size_t next_call = 0;      ///< index into plan.calls
  int64_t rpc = 0;           ///< device request in flight, 0 if none
  bool done_early = false;   ///< completion event seen before the reply
  bool cancelling = false;   ///< cancel sent stop calls; answer on their reply
  rapidjson::Document step_results{rapidjson::kArrayType};
  std::string last_result = "null";
  bool motion = false;
  bool exclusive = false; ///< a batch: nothing else runs meanwhile
};

/// Why a device request was sent.
enum class rpc_purpose { sync, poll, command, cancel_stop, ignore };

struct rpc_entry {
  rpc_purpose purpose = rpc_purpose::ignore;
  std::string method;
  uint64_t key = 0; ///< command key for command / cancel_stop
};

/// A finished command kept for duplicate ids, or a pending one.
struct ledger_entry {
  bool finished = false;
  uint64_t key = 0; ///< pending command while !finished
  command_result result;
  time_point at;
};

/// Who holds the control lease.
struct lease_state {
  std::string session; ///< empty: nobody
  std::string identity;
  caf::actor holder;
  time_point expires;
};

struct telescope_state {
  static inline const char* name = "telescope";

  telescope_config cfg;
  net::link_factory links;
  caf::actor directory;
  std::vector<caf::actor> topics;

  // -- link -----------------------------------------------------------------
  link_phase phase = link_phase::offline;
  uint64_t link_id = 0;
  std::weak_ptr<net::device_link> link;
  unsigned attempt = 0;
  std::minstd_rand rng;
  time_point last_rx;
  time_point sync_started;
  size_t sync_outstanding = 0;
  bool announced_online = false;
  std::string offline_reason = "not connected yet";
  protocol::seestar::id_generator ids;
  std::unordered_map<int64_t, rpc_entry> rpcs;
  uint64_t poll_gen = 0;

  // -- status ---------------------------------------------------------------
  std::array<rapidjson::Document, 4> status;

  // -- commands -------------------------------------------------------------
  uint64_t next_key = 1;
  std::map<uint64_t, pending_command> pending;
  std::deque<uint64_t> queue; ///< queued keys in arrival order
  /// Armed for the earliest command deadline (one clock entry, not one
  /// per command).
  deadline_timer deadlines;
  std::unordered_map<std::string, ledger_entry> ledger;
  lease_state lease;
};

using telescope_ptr = caf::stateful_actor<telescope_state>*;

// -- shared helpers (telescope.cpp) -------------------------------------------

/// Current status object of a category.
rapidjson::Document& status_of(telescope_ptr self, protocol::category cat);

/// Merges device-derived fields into a category and publishes the change
/// to its topic (when ready).
void apply_status(telescope_ptr self, protocol::category cat,
                  const rapidjson::Value& fields);

/// Sends one JSON-RPC request over the link; returns its id (0 if down).
int64_t send_rpc(telescope_ptr self, const std::string& method,
                 const std::string& params, rpc_purpose purpose,
                 uint64_t key = 0);

/// Closes the link and goes to backoff, answering everything pending.
void drop_link(telescope_ptr self, const std::string& reason);

/// Snapshot of the telescope for the directory and logs.
telescope_info info_of(telescope_ptr self);

// -- commands (telescope_commands.cpp)
// ------------------------------------------

/// Accepts one command; the promise is answered exactly once.
caf::result<command_result> accept_command(telescope_ptr self,
                                           command_request& req);

/// Handles a device reply that belongs to a command.
void on_command_reply(telescope_ptr self, const rpc_entry& entry,
                      protocol::seestar::response& resp);

/// Lets running commands react to a device event (completion, progress).
void on_command_event(telescope_ptr self, const protocol::seestar::event& ev);

/// The deadline timer `gen` fired: answers every command past its deadline.
void on_deadline(telescope_ptr self, uint64_t gen);

/// A timed move's duration passed.
void on_move_done(telescope_ptr self, uint64_t key);

/// Answers every pending command TELESCOPE_UNAVAILABLE (link lost).
void fail_all_pending(telescope_ptr self, const std::string& reason);

/// Housekeeping on each poll tick: ledger and lease expiry.
void expire_ledger_and_lease(telescope_ptr self);

/// The lease holder went down.
void on_holder_down(telescope_ptr self, const caf::actor_addr& who);

} // namespace scopehub
