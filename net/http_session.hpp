#pragma once

// net/http_session: one accepted TCP connection speaking HTTP/1.1, over
// TLS when listener_options::tls is set (the handshake comes first). Reads
// a request with limits and a timeout, routes it by path (the query
// string is passed on, not routed on) and either answers it (keep-alive)
// or hands the connection to a WebSocket pipe:
//
//   GET /api/ws/health              -> 200 JSON from http_hooks::on_health
//   GET /api/ws[/{telescope_id}]    -> WebSocket (426 without Upgrade)
//   wrong method on those paths     -> 405 JSON
//   POST/DELETE /api/session        -> http_hooks::on_session (if set)
//   anything else                   -> 404 JSON {"error_code":"NOT_FOUND"}
//
// Internal to net/: only the listener and ws_pipe.cpp include it.

#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

#include "net/http_hooks.hpp"
#include "net/listener.hpp"
#include "net/net_counters.hpp"

namespace scopehub::net {

/// What every connection of one listener shares (immutable).
struct http_context {
  listener_options opts;
  http_hooks hooks;
  std::shared_ptr<net_counters> counters;
};

/// Serves `socket` (whose executor must be a strand of its own) until
/// the client goes away or the connection becomes a WebSocket; with
/// `ctx->opts.tls` it first does the TLS handshake (within read_timeout).
void run_http_session(boost::asio::ip::tcp::socket socket,
                      std::shared_ptr<const http_context> ctx,
                      connection_slot slot, uint64_t id);

} // namespace scopehub::net
