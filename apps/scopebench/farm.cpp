#include "apps/scopebench/farm.hpp"

#include <chrono>
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace scopebench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

std::vector<std::string> farm_edge_args(const std::string& telescope,
                                        uint16_t device_port,
                                        const std::string& secret,
                                        const std::vector<std::string>& extra) {
  std::vector<std::string> args{"--telescopes.connect=[\"" + telescope
                                  + "=127.0.0.1:" + std::to_string(device_port)
                                  + "\"]",
                                "--farm.role=edge",
                                std::string{"--farm.node="} + farm_edge_node,
                                "--farm.host=127.0.0.1",
                                "--farm.port=0",
                                "--farm.secret=" + secret};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::vector<std::string>
farm_gateway_args(uint16_t edge_port, const std::string& secret,
                  const std::vector<std::string>& extra) {
  std::vector<std::string> args{
    "--farm.role=gateway", "--farm.node=bench-gateway",
    "--farm.edges=[\"127.0.0.1:" + std::to_string(edge_port) + "\"]",
    "--farm.secret=" + secret};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

bool farm_lists_online(std::string_view body, const std::string& telescope) {
  // One telescope in the list: the bench's.
  auto has = [&](const std::string& s) {
    return body.find(s) != std::string_view::npos;
  };
  return has("\"id\":\"" + telescope + '"') && has("\"state\":\"online\"")
         && has(std::string{"\"node\":\""} + farm_edge_node + '"');
}

namespace {

struct get_op {
  explicit get_op(asio::io_context& ioc) : stream(ioc) {}
  beast::tcp_stream stream;
  beast::flat_buffer buf;
  http::request<http::empty_body> req;
  http::response<http::string_body> res;
  std::function<void(error_code, unsigned, std::string)> done;

  void finish(error_code ec) {
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
    auto d = std::move(done);
    done = nullptr;
    if (d) d(ec, res.result_int(), std::move(res.body()));
  }
};

} // namespace

void http_get(asio::io_context& ioc, uint16_t port, std::string target,
              std::function<void(error_code, unsigned, std::string)> done) {
  auto op = std::make_shared<get_op>(ioc);
  op->done = std::move(done);
  op->req = {http::verb::get, target, 11};
  op->req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  op->req.keep_alive(false);
  op->stream.expires_after(std::chrono::seconds{2});
  tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), port};
  op->stream.async_connect(ep, [op](error_code ec) {
    if (ec) return op->finish(ec);
    http::async_write(op->stream, op->req, [op](error_code ec, size_t) {
      if (ec) return op->finish(ec);
      http::async_read(op->stream, op->buf, op->res,
                       [op](error_code ec, size_t) { op->finish(ec); });
    });
  });
}

} // namespace scopebench
