// net/tls_context: one OpenSSL server context per listener, checked at
// start so that a wrong path or a key of another certificate stops the
// server with a clear message instead of failing every handshake later.

#include "net/tls_context.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

namespace scopehub::net {

namespace {

namespace ssl = boost::asio::ssl;

/// Empty when `path` can be opened for reading, else why not.
std::string unreadable(const std::string& path) {
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    std::fclose(f);
    return {};
  }
  return std::strerror(errno);
}

} // namespace

std::shared_ptr<ssl::context> make_tls_context(const tls_options& opts,
                                               std::string* error) {
  auto failed = [error](std::string what) {
    if (error != nullptr) *error = std::move(what);
    return nullptr;
  };
  int min_version = 0;
  if (opts.min_version == "1.2")
    min_version = TLS1_2_VERSION;
  else if (opts.min_version == "1.3")
    min_version = TLS1_3_VERSION;
  else
    return failed("tls.min-version must be \"1.2\" or \"1.3\", got \""
                  + opts.min_version + "\"");
  if (opts.cert_file.empty() || opts.key_file.empty())
    return failed("tls.cert-file and tls.key-file are both required");
  if (auto why = unreadable(opts.cert_file); !why.empty())
    return failed("tls.cert-file " + opts.cert_file + ": cannot read: " + why);
  if (auto why = unreadable(opts.key_file); !why.empty())
    return failed("tls.key-file " + opts.key_file + ": cannot read: " + why);
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  // The option bits are the belt, the minimum version the braces: either
  // alone keeps SSLv3, TLS 1.0 and 1.1 out.
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2
                   | ssl::context::no_sslv3 | ssl::context::no_tlsv1
                   | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  auto* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, min_version) != 1)
    return failed("tls.min-version " + opts.min_version
                  + ": not supported by this OpenSSL");
  // A client may not renegotiate (a cheap way to make the server burn
  // CPU); idle connections give their read/write buffers back (~34 KB
  // each), which matters with thousands of quiet WebSockets.
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  boost::system::error_code ec;
  // Without a callback OpenSSL asks for the pass phrase of an encrypted
  // key on the terminal, and a server under systemd would hang: an empty
  // one makes such a key fail below instead.
  ctx->set_password_callback(
    [](std::size_t, ssl::context::password_purpose) { return std::string{}; },
    ec);
  ctx->use_certificate_chain_file(opts.cert_file, ec);
  if (ec)
    return failed("tls.cert-file " + opts.cert_file
                  + ": not a PEM certificate: " + ec.message());
  ctx->use_private_key_file(opts.key_file, ssl::context::pem, ec);
  if (ec)
    return failed("tls.key-file " + opts.key_file
                  + ": not an unencrypted PEM private key for this "
                    "certificate: "
                  + ec.message());
  if (SSL_CTX_check_private_key(native) != 1)
    return failed("tls.key-file " + opts.key_file
                  + " does not belong to the certificate in tls.cert-file "
                  + opts.cert_file);
  return ctx;
}

} // namespace scopehub::net
