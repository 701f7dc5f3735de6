#pragma once

// net/ws_pipe: one WebSocket's I/O, and nothing else (design.md, "the one
// rule of the bridge"). The pipe reads frames and reports them to its
// session actor by message (actors/messages.hpp: ws_frame, ws_binary,
// alive, drained, closed); the actor writes through a weak_ptr<ws_pipe>,
// and every call only posts onto the pipe's strand.
//
// This header is Beast-free on purpose: session code includes it, and
// unit tests can hand a session a fake pipe. The Beast implementation
// lives in ws_pipe.cpp and is created by the listener on upgrade.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace scopehub::net {

/// Limits and timeouts of every WebSocket of a listener.
struct ws_options {
  /// Largest message a client may send; bigger ones close the socket
  /// with 1009 (protocol.md). Beast's own default is 16 MiB.
  size_t max_message_size = 64 * 1024;
  /// Hard limit of queued outbound bytes (in flight included); past it
  /// the pipe closes with 4002 "slow consumer". The session conflates
  /// long before this (it sees the backlog through `drained`).
  size_t write_queue_limit_bytes = 4 * 1024 * 1024;
  /// Without any frame from the client for this long, Beast closes the
  /// socket; a ping goes out at half of it (keep-alive pings). Longer
  /// than the heartbeat's stale_after would be pointless.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds{30};
  /// Time for the opening and the closing handshakes (Beast's own).
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds{10};
  /// Hard stop after close(): a peer that neither reads our backlog nor
  /// answers the close frame loses its TCP connection after this.
  std::chrono::milliseconds close_timeout = std::chrono::seconds{5};
  /// Client messages handed to the session and not yet consumed
  /// (ws_pipe::consumed) before the pipe stops reading: a client that
  /// floods is paused by TCP flow control instead of being buffered in a
  /// mailbox without bound.
  size_t inbound_window = 32;
  /// Offer permessage-deflate (costs ~60-130 KB RSS per connection).
  bool deflate = false;
  /// When set, read at each handshake instead of `deflate`: a runtime
  /// switch (the `compression` feature flag) for new connections.
  std::shared_ptr<const std::atomic<bool>> deflate_switch;
  /// permessage-deflate's server window (8..15) and zlib memLevel (1..9):
  /// smaller ones cost less memory per connection, and compress a little
  /// less well.
  int deflate_window_bits = 10;
  int deflate_mem_level = 2;
};

/// Returns an empty string when `opts` is usable, else what is wrong.
std::string validate(const ws_options& opts);

/// One WebSocket connection as its session actor sees it. Every member
/// function may be called from any thread.
class ws_pipe {
 public:
  virtual ~ws_pipe() = default;

  /// Queues one text frame. The bytes are shared, never copied: a topic
  /// may hand the same frame to many pipes. If the queue would pass
  /// `write_queue_limit_bytes`, the frame is dropped and the pipe closes
  /// with 4002 "slow consumer". Frames after a close are dropped.
  virtual void send(std::shared_ptr<const std::string> frame) = 0;

  /// Closes the WebSocket with `code` and `reason` (at most 123 bytes).
  /// Queued frames not yet on the wire are dropped; the close frame goes
  /// out right after the write in flight. The owner then gets `closed`
  /// once. Calls after the first one are ignored.
  virtual void close(uint16_t code, std::string reason) = 0;

  /// The owner finished with `n` client messages the pipe reported
  /// (ws_frame or ws_binary): the pipe may read that many more. A pipe
  /// with `inbound_window` messages unconsumed stops reading.
  virtual void consumed(size_t n) = 0;

  /// Outbound bytes queued right now (in flight included).
  virtual size_t queued_bytes() const = 0;

  /// Remote address as "ip:port".
  virtual const std::string& peer() const = 0;

  /// Connection id, unique per listener, for logs ("c42").
  virtual uint64_t id() const = 0;
};

} // namespace scopehub::net
