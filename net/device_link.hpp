#pragma once

// The seam between a telescope actor and its device connection. The real
// implementation is net/line_link (Asio TCP); unit tests hand the actor a
// fake. Either way the link reports to its owner by message
// (actors/messages.hpp): link_up, link_line (one per line), link_down
// (exactly once, the last message).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "caf/actor.hpp"

namespace scopehub::net {

/// One device connection. Methods may be called from any thread.
class device_link {
 public:
  virtual ~device_link() = default;

  /// Queues one line (the caller includes the terminator).
  virtual void write(std::string line) = 0;

  /// Closes the connection; the owner then gets link_down.
  virtual void close() = 0;
};

/// Opens a link to host:port for `owner`, tagging every report with
/// `link_id`. The returned object lives while its I/O is in progress;
/// the owner keeps only a weak_ptr to it.
using link_factory = std::function<std::shared_ptr<device_link>(
  caf::actor owner, uint64_t link_id, const std::string& host, uint16_t port,
  std::chrono::milliseconds connect_timeout)>;

} // namespace scopehub::net
