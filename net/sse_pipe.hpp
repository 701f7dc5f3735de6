#pragma once

// net/sse_pipe: a Server-Sent Events stream (`GET /api/telescopes/{id}/
// events`) seen by its session actor as a ws_pipe, so the session, the
// topics and the slow-client rules serve it unchanged (design.md: "a
// session is a WebSocket or SSE client"). Internal to net/: only
// http_session.cpp includes it.
//
// What the session writes becomes (text/event-stream):
//
//   status_update                 id: <category>:<seq>[,<category>:<seq>...]
//                                 data: <the frame>
//   telescope_discovered / _lost  data: <the frame>
//   error                         data: <the frame>
//   heartbeat                     ": heartbeat <server_time>" (keep-alive)
//   anything else                 dropped (no commands on this transport)
//
// The `id:` names the newest seq of every category seen on the stream (or
// named by the request's own Last-Event-ID), so a `Last-Event-ID`
// resumes every category, like `resume_from`. Discovered and lost frames
// of other telescopes than the stream's are not sent. The
// client sends nothing after its request: any byte or EOF ends the
// stream. A completed write counts as liveness (`alive`), so the
// heartbeat supervisor closes a stream whose client stopped reading.
// close(code, reason) writes a final `event: close` with the code and
// reason, then ends the response.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "net/http_session.hpp"
#include "net/ws_accept.hpp"

namespace scopehub::net {

/// Parses a Last-Event-ID of this server ("position:120,system:33") into
/// seq per category name; unknown categories and malformed parts are
/// skipped.
std::map<std::string, uint64_t> parse_event_id(std::string_view id);

/// What one frame of the session becomes on an event stream ("" when it
/// is not for this transport). `last_ids` is the stream's newest seq per
/// category, updated by status frames. A non-empty `telescope` drops the
/// discovered and lost frames of every other telescope.
std::string to_event(std::string_view frame,
                     std::map<std::string, uint64_t>& last_ids,
                     std::string_view telescope = {});

/// Starts an event stream on `stream` (on its strand): writes the
/// response head (plus `extra_headers`, complete lines), asks
/// `ctx->hooks.on_websocket` for the session and starts the read loop.
void start_sse(boost::beast::tcp_stream stream,
               std::shared_ptr<const http_context> ctx, upgrade_info info,
               connection_slot slot, uint64_t id, unsigned version,
               std::string extra_headers);

/// The same over TLS.
void start_sse(tls_stream stream, std::shared_ptr<const http_context> ctx,
               upgrade_info info, connection_slot slot, uint64_t id,
               unsigned version, std::string extra_headers);

} // namespace scopehub::net
