#pragma once

// net/ws_accept: the hand-over from an HTTP session to a WebSocket pipe
// (implemented in ws_pipe.cpp). Internal to net/ and Beast-heavy: only
// http_session.cpp includes it.

#include <cstdint>
#include <memory>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "net/http_session.hpp"

namespace scopehub::net {

/// A TLS connection after its handshake (https://, wss://).
using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

/// Completes the WebSocket handshake for `req` on `stream` (running on
/// the stream's strand), then calls `ctx->hooks.on_websocket` and starts
/// the pipe's read loop. A failed handshake just drops the connection.
void accept_websocket(
  boost::beast::tcp_stream stream,
  boost::beast::http::request<boost::beast::http::string_body> req,
  std::shared_ptr<const http_context> ctx, upgrade_info info,
  connection_slot slot, uint64_t id);

/// The same over TLS (wss://): `stream` has done its TLS handshake.
void accept_websocket(
  tls_stream stream,
  boost::beast::http::request<boost::beast::http::string_body> req,
  std::shared_ptr<const http_context> ctx, upgrade_info info,
  connection_slot slot, uint64_t id);

} // namespace scopehub::net
