// scopectl: a blocking HTTP GET with Beast, bounded by one deadline.

#include "apps/scopectl/http.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace scopehub::scopectl {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

/// host and port of ws://host:port/...; false when it is not ws://.
bool host_port(const std::string& url, std::string& host, std::string& port) {
  const std::string scheme = "ws://";
  if (url.compare(0, scheme.size(), scheme) != 0) return false;
  auto rest = url.substr(scheme.size());
  rest = rest.substr(0, rest.find_first_of("/?"));
  auto colon = rest.rfind(':');
  host = rest.substr(0, colon);
  port = colon == std::string::npos ? "80" : rest.substr(colon + 1);
  return !host.empty() && !port.empty();
}

} // namespace

std::optional<http_answer> http_get(const std::string& ws_url,
                                    const std::string& path,
                                    std::chrono::milliseconds timeout,
                                    std::string& error) {
  std::string host;
  std::string port;
  if (!host_port(ws_url, host, port)) {
    error = "URL must be ws://host:port";
    return std::nullopt;
  }
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  std::optional<http_answer> out;
  asio::ip::tcp::resolver resolver{ioc};
  beast::flat_buffer buf;
  http::request<http::empty_body> req{http::verb::get, path, 11};
  req.set(http::field::host, host + ':' + port);
  req.set(http::field::user_agent, "scopectl");
  http::response<http::string_body> res;
  auto fail = [&](beast::error_code ec, const char* what) {
    error = std::string{what} + ": " + ec.message();
  };
  stream.expires_after(timeout);
  resolver.async_resolve(host, port, [&](beast::error_code ec, auto results) {
    if (ec) return fail(ec, "resolve");
    stream.async_connect(results, [&](beast::error_code ec, auto) {
      if (ec) return fail(ec, "connect");
      http::async_write(stream, req, [&](beast::error_code ec, size_t) {
        if (ec) return fail(ec, "write");
        http::async_read(stream, buf, res, [&](beast::error_code ec, size_t) {
          if (ec) return fail(ec, "read");
          out = http_answer{res.result_int(), res.body()};
        });
      });
    });
  });
  ioc.run();
  return out;
}

} // namespace scopehub::scopectl
