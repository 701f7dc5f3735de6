#include "actors/auth.hpp"

#include <cctype>
#include <memory>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "protocol/glob.hpp"

namespace scopehub::auth {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool sha256(std::string_view text, std::array<unsigned char, 32>& out) {
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx{EVP_MD_CTX_new(),
                                                         EVP_MD_CTX_free};
  unsigned int len = 0;
  return ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1
         && EVP_DigestUpdate(ctx.get(), text.data(), text.size()) == 1
         && EVP_DigestFinal_ex(ctx.get(), out.data(), &len) == 1
         && len == out.size();
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  for (;;) {
    auto end = text.find(sep, pos);
    if (end == std::string_view::npos) {
      out.push_back(text.substr(pos));
      return out;
    }
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
}

bool valid_label(std::string_view label) noexcept {
  if (label.size() > 64) return false;
  for (char c : label) {
    auto u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '.' && c != '_' && c != '-' && c != '@')
      return false;
  }
  return true;
}

/// A glob may use * and ? besides the id characters.
bool valid_scope(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '.' && c != '_' && c != '-' && c != '*'
        && c != '?')
      return false;
  }
  return true;
}

bool fail(std::string* error, std::string text) {
  if (error) *error = std::move(text);
  return false;
}

} // namespace

bool valid_role(std::string_view role) noexcept {
  return role == "observer" || role == "operator" || role == "admin";
}

std::string sha256_hex(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  if (!sha256(text, digest)) return {};
  std::string out;
  out.reserve(64);
  for (auto b : digest) {
    out += hex_digits[b >> 4];
    out += hex_digits[b & 0xF];
  }
  return out;
}

namespace {

std::string to_hex(const unsigned char* data, size_t size) {
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += hex_digits[data[i] >> 4];
    out += hex_digits[data[i] & 0xF];
  }
  return out;
}

} // namespace

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(),
           digest, &size)
      == nullptr)
    return {};
  return to_hex(digest, size);
}

std::string random_hex(size_t n) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()),
                 static_cast<int>(n))
      != 1)
    return {};
  return to_hex(reinterpret_cast<const unsigned char*>(bytes.data()), n);
}

bool equal_constant_time(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size()
         && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<token_entry> parse_token_entry(std::string_view text,
                                             std::string* error) {
  auto parts = split(text, ':');
  if (parts.size() < 2 || parts.size() > 4) {
    fail(error, "auth.tokens: expected \"<sha256hex>:<role>[:<label>[:<ids>]]"
                "\", got \""
                  + std::string{text} + "\"");
    return std::nullopt;
  }
  token_entry entry;
  auto hash = parts[0];
  if (hash.size() != 64) {
    fail(error, "auth.tokens: the hash must be 64 hex digits (SHA-256; see "
                "scopehub --hash-token)");
    return std::nullopt;
  }
  for (size_t i = 0; i < 32; ++i) {
    auto hi = hex_value(hash[2 * i]);
    auto lo = hex_value(hash[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      fail(error, "auth.tokens: the hash must be 64 hex digits");
      return std::nullopt;
    }
    entry.hash[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  entry.role = std::string{parts[1]};
  if (!valid_role(entry.role)) {
    fail(error, "auth.tokens: role must be observer, operator or admin, got \""
                  + entry.role + "\"");
    return std::nullopt;
  }
  if (parts.size() > 2) {
    if (!valid_label(parts[2])) {
      fail(error, "auth.tokens: label \"" + std::string{parts[2]}
                    + "\" must match [A-Za-z0-9._@-]{0,64}");
      return std::nullopt;
    }
    entry.label = std::string{parts[2]};
  }
  if (entry.label.empty())
    entry.label = "token-" + std::string{hash.substr(0, 8)};
  if (parts.size() > 3 && !parts[3].empty()) {
    for (auto scope : split(parts[3], ',')) {
      if (!valid_scope(scope)) {
        fail(error, "auth.tokens: telescope \"" + std::string{scope}
                      + "\" must be an id or a glob ([A-Za-z0-9._*?-])");
        return std::nullopt;
      }
      entry.telescopes.emplace_back(scope);
    }
  }
  return entry;
}

bool telescope_allowed(const std::vector<std::string>& scopes,
                       std::string_view id) noexcept {
  if (scopes.empty()) return true;
  for (auto& s : scopes)
    if (s == id || protocol::glob_match(s, id)) return true;
  return false;
}

std::string bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() <= scheme.size()) return {};
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i])
      return {};
  auto token = authorization.substr(scheme.size());
  while (!token.empty() && token.front() == ' ')
    token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
    token.remove_suffix(1);
  return std::string{token};
}

std::string query_param(std::string_view query, std::string_view key) {
  for (auto part : split(query, '&')) {
    auto eq = part.find('=');
    if (eq == std::string_view::npos || part.substr(0, eq) != key) continue;
    auto raw = part.substr(eq + 1);
    std::string out;
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') {
        out += ' ';
      } else if (raw[i] == '%' && i + 2 < raw.size()
                 && hex_value(raw[i + 1]) >= 0 && hex_value(raw[i + 2]) >= 0) {
        out += static_cast<char>(hex_value(raw[i + 1]) * 16
                                 + hex_value(raw[i + 2]));
        i += 2;
      } else {
        out += raw[i];
      }
    }
    return out;
  }
  return {};
}

std::optional<token_table>
token_table::parse(const std::vector<std::string>& entries,
                   std::string* error) {
  token_table result;
  for (auto& text : entries) {
    auto entry = parse_token_entry(text, error);
    if (!entry) return std::nullopt;
    result.entries_.push_back(std::move(*entry));
  }
  return result;
}

const token_entry* token_table::find(std::string_view token) const {
  if (token.empty()) return nullptr;
  std::array<unsigned char, 32> digest{};
  if (!sha256(token, digest)) return nullptr;
  const token_entry* found = nullptr;
  // Look at every entry (no early exit) so the time does not tell which.
  for (auto& e : entries_)
    if (CRYPTO_memcmp(e.hash.data(), digest.data(), digest.size()) == 0
        && found == nullptr)
      found = &e;
  return found;
}

} // namespace scopehub::auth
