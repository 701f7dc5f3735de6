#pragma once

// actors/auth: the token table of issue 6 and its pure helpers. Config
// stores SHA-256 hashes of tokens, never tokens; a presented token is
// hashed and compared with every configured hash in constant time
// (CRYPTO_memcmp, no early exit). Each token has a role, an optional
// label (the identity for logs and idempotency) and an optional list of
// telescope ids or globs it is limited to.
//
// Entry syntax (auth.tokens, one string per token):
//
//   <sha256hex>:<role>[:<label>[:<id-or-glob>,<id-or-glob>...]]
//
//   role      observer | operator | admin
//   label     [A-Za-z0-9._@-]{0,64}; empty: "token-" + 8 hex of the hash
//   telescope list: empty (or absent) = every telescope
//
// No CAF, no Asio: usable from any thread (the table is immutable).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace scopehub::auth {

/// True for "observer", "operator" and "admin".
bool valid_role(std::string_view role) noexcept;

/// Lower-case hex SHA-256 of `text` (OpenSSL EVP).
std::string sha256_hex(std::string_view text);

/// Lowercase hex HMAC-SHA256 of `data` under `key` (OpenSSL); empty on
/// failure.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

/// Lowercase hex of `n` random bytes from OpenSSL's CSPRNG; empty on
/// failure.
std::string random_hex(size_t n);

/// Compares two strings in time independent of where they differ.
bool equal_constant_time(std::string_view a, std::string_view b) noexcept;

/// One configured token.
struct token_entry {
  std::array<unsigned char, 32> hash{};
  std::string role;
  std::string label;
  /// Telescope ids or globs; empty means every telescope.
  std::vector<std::string> telescopes;
};

/// Parses one auth.tokens entry; on failure returns nullopt and sets
/// `*error` (when given) to what is wrong.
std::optional<token_entry> parse_token_entry(std::string_view text,
                                             std::string* error = nullptr);

/// True when `scopes` (ids or globs, empty = all) allow telescope `id`.
bool telescope_allowed(const std::vector<std::string>& scopes,
                       std::string_view id) noexcept;

/// The token of an `Authorization: Bearer <token>` header value, or ""
/// (scheme compared case-insensitively).
std::string bearer_token(std::string_view authorization);

/// The percent-decoded value of `key` in a query string ("a=1&b=2"),
/// or "" when absent.
std::string query_param(std::string_view query, std::string_view key);

/// The configured tokens. Immutable after construction.
class token_table {
 public:
  token_table() = default;

  /// Parses every entry; on failure returns nullopt and sets `*error`.
  static std::optional<token_table>
  parse(const std::vector<std::string>& entries, std::string* error = nullptr);

  /// True when no token is configured (open mode).
  bool empty() const noexcept { return entries_.empty(); }

  size_t size() const noexcept { return entries_.size(); }

  /// The entry whose hash equals SHA-256(`token`), or null. Compares
  /// against every entry in constant time per entry.
  const token_entry* find(std::string_view token) const;

 private:
  std::vector<token_entry> entries_;
};

} // namespace scopehub::auth
