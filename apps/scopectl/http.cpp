// scopectl: a blocking HTTP(S) GET with Beast, bounded by one deadline.

#include "apps/scopectl/http.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace scopehub::scopectl {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

/// Host, port and TLS flag of ws://host:port/... or wss://host:port/...
struct endpoint {
  std::string host;
  std::string port;
  bool tls = false;
};

/// False when `url` is neither ws:// nor wss://.
bool parse_url(const std::string& url, endpoint& ep) {
  std::string rest;
  if (url.rfind("ws://", 0) == 0) {
    rest = url.substr(5);
  } else if (url.rfind("wss://", 0) == 0) {
    rest = url.substr(6);
    ep.tls = true;
  } else {
    return false;
  }
  rest = rest.substr(0, rest.find_first_of("/?"));
  auto colon = rest.rfind(':');
  ep.host = rest.substr(0, colon);
  ep.port = colon == std::string::npos ? (ep.tls ? "443" : "80")
                                       : rest.substr(colon + 1);
  return !ep.host.empty() && !ep.port.empty();
}

} // namespace

std::optional<http_answer> http_get(const std::string& ws_url,
                                    const std::string& path,
                                    const std::string& ca_file,
                                    std::chrono::milliseconds timeout,
                                    std::string& error) {
  endpoint ep;
  if (!parse_url(ws_url, ep)) {
    error = "URL must be ws://host:port or wss://host:port";
    return std::nullopt;
  }
  asio::io_context ioc;
  // wss://: the same trust rules as net::ws_client (system store or
  // ca_file, peer certificate and host name checked).
  asio::ssl::context tls_ctx{asio::ssl::context::tls_client};
  if (ep.tls) {
    beast::error_code ec;
    if (ca_file.empty())
      tls_ctx.set_default_verify_paths(ec);
    else
      tls_ctx.load_verify_file(ca_file, ec);
    if (ec) {
      error = "TLS trust store: " + ec.message();
      return std::nullopt;
    }
    tls_ctx.set_verify_mode(asio::ssl::verify_peer);
  }
  // ws:// uses only the TCP layer of this stream.
  beast::ssl_stream<beast::tcp_stream> tls{ioc, tls_ctx};
  auto& tcp = beast::get_lowest_layer(tls);
  if (ep.tls) {
    if (!SSL_set_tlsext_host_name(tls.native_handle(), ep.host.c_str())) {
      error = "TLS: cannot set the server name";
      return std::nullopt;
    }
    tls.set_verify_callback(asio::ssl::host_name_verification(ep.host));
  }
  std::optional<http_answer> out;
  asio::ip::tcp::resolver resolver{ioc};
  beast::flat_buffer buf;
  http::request<http::empty_body> req{http::verb::get, path, 11};
  req.set(http::field::host, ep.host + ':' + ep.port);
  req.set(http::field::user_agent, "scopectl");
  http::response<http::string_body> res;
  auto fail = [&](beast::error_code ec, const char* what) {
    error = std::string{what} + ": " + ec.message();
  };
  auto exchange = [&](auto& stream) {
    http::async_write(stream, req, [&](beast::error_code ec, size_t) {
      if (ec) return fail(ec, "write");
      http::async_read(stream, buf, res, [&](beast::error_code ec, size_t) {
        if (ec) return fail(ec, "read");
        out = http_answer{res.result_int(), res.body()};
      });
    });
  };
  tcp.expires_after(timeout);
  resolver.async_resolve(
    ep.host, ep.port, [&](beast::error_code ec, auto results) {
      if (ec) return fail(ec, "resolve");
      tcp.async_connect(results, [&](beast::error_code ec, auto) {
        if (ec) return fail(ec, "connect");
        if (!ep.tls) return exchange(tcp);
        tls.async_handshake(asio::ssl::stream_base::client,
                            [&](beast::error_code ec) {
                              if (ec) return fail(ec, "TLS handshake");
                              exchange(tls);
                            });
      });
    });
  ioc.run();
  return out;
}

} // namespace scopehub::scopectl
