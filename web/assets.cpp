#include "web/assets.hpp"

#include <array>
#include <cstddef>
#include <iterator>

namespace scopehub::web {

namespace files {

// Defined in the file cmake/EmbedGen.cmake generates.
std::string_view embedded(std::string_view name);

} // namespace files

namespace {

constexpr std::string_view names[] = {
#include "web_asset_names.inc"
};

constexpr std::size_t asset_count = std::size(names);

struct type_by_suffix {
  std::string_view suffix;
  std::string_view content_type;
};

// Module scripts must come with a JavaScript MIME type or the browser
// refuses to run them.
constexpr type_by_suffix content_types[] = {
  {".html", "text/html; charset=utf-8"},
  {".js", "text/javascript; charset=utf-8"},
  {".mjs", "text/javascript; charset=utf-8"},
  {".css", "text/css; charset=utf-8"},
  {".json", "application/json"},
  {".svg", "image/svg+xml"},
  {".png", "image/png"},
  {".ico", "image/x-icon"},
  {".txt", "text/plain; charset=utf-8"},
};

std::string_view content_type_of(std::string_view name) noexcept {
  for (const auto& t : content_types)
    if (name.size() > t.suffix.size()
        && name.substr(name.size() - t.suffix.size()) == t.suffix)
      return t.content_type;
  return "application/octet-stream";
}

const std::array<asset, asset_count>& assets() {
  // Built once, on first use (thread-safe static initialization).
  static const auto table = [] {
    std::array<asset, asset_count> out{};
    for (std::size_t i = 0; i < asset_count; ++i)
      out[i] = asset{files::embedded(names[i]), content_type_of(names[i])};
    return out;
  }();
  return table;
}

} // namespace

const asset* find_asset(std::string_view name) noexcept {
  for (std::size_t i = 0; i < asset_count; ++i)
    if (names[i] == name) return &assets()[i];
  return nullptr;
}

} // namespace scopehub::web
