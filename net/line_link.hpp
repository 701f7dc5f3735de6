#pragma once

// net/line_link: a TCP client for line-oriented device protocols (the
// Seestar's JSON-RPC on port 4700). Sockets belong to Asio: the link
// frames `\r\n` lines and forwards each one to its telescope actor by
// message; writes are posted onto the link's strand.

#include <cstddef>

#include <boost/asio/io_context.hpp>

#include "net/device_link.hpp"

namespace scopehub::net {

/// Limits of a line link.
struct line_link_options {
  /// Longest accepted line; longer ones are dropped and logged.
  size_t max_line = 256 * 1024;
  /// Queued output bytes after which writes are refused (closes the link).
  size_t max_write_queue = 1024 * 1024;
};

/// Returns a factory that opens line links on `ioc`.
link_factory make_line_link_factory(boost::asio::io_context& ioc,
                                    line_link_options opts = {});

} // namespace scopehub::net
