#pragma once

// scopectl's one HTTP request (GET /api/ws/health): blocking, bounded,
// no keep-alive; HTTPS for a wss:// URL. The CLI has nothing else to do
// meanwhile.

#include <chrono>
#include <optional>
#include <string>

namespace scopehub::scopectl {

/// Status code and body of an HTTP answer.
struct http_answer {
  unsigned status = 0;
  std::string body;
};

/// GETs `path` from the server a ws:// URL names (its host and port);
/// over TLS for a wss:// URL, trusting the CA certificates in `ca_file`
/// (empty: the system's store) and checking the host name, as
/// net::ws_client does. On failure returns nullopt and sets `error`.
std::optional<http_answer> http_get(const std::string& ws_url,
                                    const std::string& path,
                                    const std::string& ca_file,
                                    std::chrono::milliseconds timeout,
                                    std::string& error);

} // namespace scopehub::scopectl
