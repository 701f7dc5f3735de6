#pragma once

// net/tls_context: the server side of TLS (https:// and wss://). The app
// builds one OpenSSL context at start from a PEM certificate and key and
// hands it to the listener (listener_options::tls); every accepted
// connection then does a TLS handshake before its first HTTP request.
//
// This header is OpenSSL-free: only tls_context.cpp and the session code
// see the Asio SSL headers.

#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
} // namespace boost::asio::ssl

namespace scopehub::net {

/// Where the certificate and key are, and the oldest protocol accepted.
struct tls_options {
  /// PEM certificate chain: the server's certificate first, then any
  /// intermediates.
  std::string cert_file;
  /// PEM private key of that certificate, unencrypted.
  std::string key_file;
  /// Oldest TLS version accepted: "1.2" or "1.3".
  std::string min_version = "1.2";
};

/// Builds a TLS server context: TLS 1.2 or newer (SSLv2/3, TLS 1.0/1.1
/// off), OpenSSL's default ciphers, no renegotiation, the certificate and
/// key of `opts`. Checks that both files are readable and that the key
/// belongs to the certificate. Returns the context, or null with the
/// reason in `*error` (naming the file at fault).
std::shared_ptr<boost::asio::ssl::context>
make_tls_context(const tls_options& opts, std::string* error);

} // namespace scopehub::net
