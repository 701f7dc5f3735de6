#pragma once

// web/assets: the debug page's files (web/*.html, *.js, *.css), embedded
// into the binary at build time (web/CMakeLists.txt), so the server
// needs no files at run time. The HTTP layer serves `GET /debug` as
// "index.html" and `GET /debug/<name>` as <name>.

#include <string_view>

namespace scopehub::web {

/// One embedded file: its bytes and the Content-Type to serve it with.
struct asset {
  std::string_view body;
  std::string_view content_type;
};

/// `name` is the path under web/, e.g. "index.html", "app.js"; nullptr
/// when unknown (also for anything with a '/', so no path escapes web/).
/// The returned asset lives as long as the program.
const asset* find_asset(std::string_view name) noexcept;

} // namespace scopehub::web
