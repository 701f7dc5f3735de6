#pragma once

// scopectl's one plain HTTP request (GET /api/ws/health): blocking, bounded,
// no keep-alive. The CLI has nothing else to do meanwhile.

#include <chrono>
#include <optional>
#include <string>

namespace scopehub::scopectl {

/// Status code and body of an HTTP answer.
struct http_answer {
  unsigned status = 0;
  std::string body;
};

/// GETs `path` from the server a ws:// URL names (its host and port).
/// On failure returns nullopt and sets `error`.
std::optional<http_answer> http_get(const std::string& ws_url,
                                    const std::string& path,
                                    std::chrono::milliseconds timeout,
                                    std::string& error);

} // namespace scopehub::scopectl
