#include "protocol/glob.hpp"

namespace scopehub::protocol {

namespace {

bool id_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
         || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

} // namespace

bool valid_telescope_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > max_telescope_id_length) return false;
  for (auto c : id)
    if (!id_char(c)) return false;
  return true;
}

bool valid_telescope_pattern(std::string_view pattern) noexcept {
  if (pattern.empty() || pattern.size() > max_telescope_id_length) return false;
  for (auto c : pattern)
    if (!id_char(c) && c != '*' && c != '?') return false;
  return true;
}

bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  // Greedy scan with one backtrack point: the last `*` seen and the text
  // position it was tried at. On a mismatch the star swallows one more
  // character.
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;
  size_t star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

} // namespace scopehub::protocol
