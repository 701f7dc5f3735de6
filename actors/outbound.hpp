#pragma once

// actors/outbound: a session's outbound side. It knows the session's
// backlog (bytes handed to the pipe and not yet drained, from the pipe's
// `drained` notices: no shared counter) and conflates status deltas of a
// client that cannot keep up (protocol.md, "slow-client coalescing").
//
//   backlog <= soft limit     every frame goes straight to the pipe
//   backlog  > soft limit     status frames are held, one per topic: later
//                             frames of the same topic merge into it
//                             (latest value per field, union of changes,
//                             newest seq and id, `conflated` = how many)
//   backlog <= soft limit / 2 held frames go out, oldest topic first
//
// Command responses, errors, heartbeats and fleet frames are never held,
// merged or dropped (send()); the pipe's hard limit closes a client whose
// backlog still grows (4002). Within a topic nothing is reordered: while a
// topic has a held frame, its new frames merge into it. Memory per session
// is bounded by the number of topics it subscribes to.
//
// Not an actor: a member of session_state, used on the session's thread.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "net/ws_pipe.hpp"

namespace scopehub {

class outbound {
 public:
  /// A sink with no pipe: writes go nowhere.
  outbound() = default;

  /// `soft_limit` 0 disables conflation (everything goes straight out).
  outbound(std::weak_ptr<net::ws_pipe> pipe, size_t soft_limit);

  outbound(outbound&&) = default;
  outbound& operator=(outbound&&) = default;

  /// Writes a frame that must never be held or merged.
  void send(std::shared_ptr<const std::string> frame);

  /// Writes a status_update frame of a topic, or holds it (see above).
  void send_status(std::shared_ptr<const std::string> frame);

  /// The pipe wrote `bytes`; may release held frames.
  void drained(uint64_t bytes);

  /// Drops the held frame of (telescope, category), if any: the client
  /// unsubscribed from it.
  void forget(const std::string& telescope, const std::string& category);

  /// Bytes handed to the pipe and not yet written.
  uint64_t backlog() const noexcept { return backlog_; }

  /// Topics with a held frame right now.
  size_t held() const noexcept { return held_.size(); }

  /// Status frames merged into others (and so never sent on their own).
  uint64_t conflated_total() const noexcept { return conflated_total_; }

  /// Held status frames dropped because their topic started a new epoch
  /// (its fresh full snapshot follows).
  uint64_t dropped_total() const noexcept { return dropped_total_; }

  /// Status frames that were held at least once.
  uint64_t held_total() const noexcept { return held_total_; }

  /// Largest backlog seen.
  uint64_t backlog_max() const noexcept { return backlog_max_; }

 private:
  /// One topic's held update.
  struct pending {
    std::shared_ptr<const std::string> original; ///< while count == 1
    std::string id;
    int64_t timestamp = 0;
    std::string telescope_id;
    std::string category;
    uint64_t seq = 0;
    std::string epoch;
    rapidjson::Document fields;
    std::vector<std::string> changes;
    bool full = false;
    uint32_t count = 0; ///< updates merged into this one
  };

  void write(std::shared_ptr<const std::string> frame);
  void flush();
  static std::string key_of(const std::string& telescope,
                            const std::string& category);
  /// Merges `frame` into held_ (returns false when it is no status
  /// update, so the caller sends it as it is).
  bool hold(const std::shared_ptr<const std::string>& frame);
  std::shared_ptr<const std::string> build(pending& p);

  std::weak_ptr<net::ws_pipe> pipe_;
  size_t soft_limit_ = 0;
  uint64_t backlog_ = 0;
  uint64_t backlog_max_ = 0;
  uint64_t conflated_total_ = 0;
  uint64_t held_total_ = 0;
  uint64_t dropped_total_ = 0;
  std::map<std::string, pending> held_;
  /// Keys of held_, oldest first (a vector: std::deque would allocate a
  /// block up front in every session, and this is empty but for laggards).
  std::vector<std::string> order_;
};

} // namespace scopehub
