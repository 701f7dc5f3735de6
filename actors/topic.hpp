#pragma once

// The topic actor: one per (telescope, category). It owns the full state of
// the category, numbers every change with `seq`, builds each
// `status_update` frame once and fans the same message out to every
// subscriber, and keeps a bounded history of frames so a subscriber can
// resume without a gap or a duplicate (docs/protocol.md, "subscribe").
//
// Interface (atoms from actors/messages.hpp):
//   (update_atom, fields_json, bool full)             telescope -> topic
//   (caf::subscribe_atom, actor who, int64_t resume_from) -> uint64_t seq
//   (caf::subscribe_atom, actor who, int64_t resume_from, std::string epoch)
//       -> uint64_t seq; a resume point of another epoch gets a snapshot
//   (caf::unsubscribe_atom, actor who)
//   (caf::get_atom) -> (uint64_t seq, std::string epoch, uint64_t subscribers)
// and it sends (deliver_atom, std::string frame, int64_t published_ns) to
// subscribers (published_ns 0 for catch-up frames).
//
// A mirror topic (farm mode, cfg.mirror) has no telescope: told
//   (follow_atom, actor upstream)
// it subscribes to a topic on another node and republishes that topic's
// frames unchanged (same seq, epoch and frame id) to its own subscribers,
// keeping the same state and history, so one copy of each update crosses
// the node link however many local subscribers there are.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "caf/actor.hpp"
#include "caf/behavior.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/message.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/messages.hpp"
#include "protocol/status.hpp"

namespace scopehub {

/// Deltas a topic keeps for `resume_from` by default.
inline constexpr size_t default_topic_history = 256;

/// Spawn arguments of a topic.
struct topic_config {
  std::string telescope_id;
  protocol::category category = protocol::category::system;
  /// Names this incarnation of the topic; empty: make_epoch().
  std::string epoch;
  /// Most frames kept for replay (0: always a snapshot on subscribe).
  size_t history_size = default_topic_history;
  /// Prefix of the ids of the frames this topic builds; must be unique per
  /// topic incarnation. Empty: "s-<epoch>-".
  std::string id_prefix;
  /// Farm mode: copy an upstream topic instead of numbering updates.
  bool mirror = false;
};

/// Returns a fresh epoch string, unique per server run and per call:
/// a random per-process part and a creation counter ("3f9a1c2e.7").
std::string make_epoch();

/// State of a topic actor.
struct topic_state {
  /// One frame kept for replay: the shared (deliver_atom, frame) message.
  struct frame_entry {
    uint64_t seq;
    caf::message msg;
  };

  topic_config cfg;
  /// Live subscribers, each monitored once; the down handler drops them.
  std::vector<caf::actor> subscribers;
  /// Sequence number of the newest update; 0 before the first.
  uint64_t seq = 0;
  /// Frames built so far; numbers the frame ids.
  uint64_t frames_built = 0;
  /// Every field of the category (a JSON object).
  rapidjson::Document status;
  /// The last `cfg.history_size` frames, oldest first.
  std::deque<frame_entry> history;
  /// Mirror only: the topic followed (invalid while the node is away).
  caf::actor upstream;

  static inline const char* name = "topic";
};

/// Spawns with `sys.spawn(topic_actor, cfg)`.
caf::behavior topic_actor(caf::stateful_actor<topic_state>* self,
                          topic_config cfg);

} // namespace scopehub
