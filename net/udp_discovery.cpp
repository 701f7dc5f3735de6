#include "net/udp_discovery.hpp"

#include <array>

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include "protocol/glob.hpp"
#include "protocol/seestar.hpp"

namespace scopehub::net {

namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

constexpr uint16_t default_discovery_port = 4720;

/// The probe real clients send (ESC style, with a terminator).
constexpr std::string_view probe_text
  = "{\"id\":201,\"method\":\"scan_iscope\",\"params\":\"\"}\r\n";

std::string sanitize(const std::string& text) {
  std::string out;
  for (char c : text)
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'
        || c == '-')
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

} // namespace

bool parse_discovery_reply(const std::string& datagram,
                           const std::string& from_host,
                           discovered_scope& out) {
  auto parsed = protocol::seestar::parse_line(datagram);
  if (parsed.kind != protocol::seestar::line_kind::response
      || parsed.resp.method != "scan_iscope" || parsed.resp.code != 0
      || !parsed.resp.result.IsObject())
    return false;
  const auto& r = parsed.resp.result;
  auto str = [&](const char* key) -> std::string {
    auto i = r.FindMember(key);
    return i != r.MemberEnd() && i->value.IsString() ? i->value.GetString()
                                                     : std::string{};
  };
  out.serial = str("sn");
  out.model = str("product_model");
  out.host = from_host;
  out.port = 4700;
  if (auto i = r.FindMember("port"); i != r.MemberEnd() && i->value.IsUint()
                                     && i->value.GetUint() > 0
                                     && i->value.GetUint() <= 65535)
    out.port = static_cast<uint16_t>(i->value.GetUint());
  auto name = str("name");
  if (protocol::valid_telescope_id(name))
    out.id = name;
  else if (auto sn = sanitize(out.serial); !sn.empty())
    out.id = "seestar-" + sn.substr(0, 55);
  else
    return false;
  return true;
}

struct udp_discovery::impl : std::enable_shared_from_this<impl> {
  impl(asio::io_context& ioc, discovery_options o, callback cb)
    // One strand for the socket and the timer: the probe round and the
    // receive loop never run at once, whatever the number of io-threads.
    : socket(asio::make_strand(ioc)), timer(socket.get_executor()),
      opts(std::move(o)), on_found(std::move(cb)) {
    // nop
  }

  void send_round() {
    for (auto& ep : targets) {
      boost::system::error_code ec;
      socket.send_to(asio::buffer(probe_text.data(), probe_text.size()), ep, 0,
                     ec);
      if (ec)
        spdlog::warn("discovery: probe to {}:{} failed: {}",
                     ep.address().to_string(), ep.port(), ec.message());
    }
    timer.expires_after(opts.interval);
    timer.async_wait([self = shared_from_this()](auto ec) {
      if (!ec && !self->stopped) self->send_round();
    });
  }

  void receive() {
    socket.async_receive_from(
      asio::buffer(buf), from,
      [self = shared_from_this()](boost::system::error_code ec, size_t n) {
        if (self->stopped || ec == asio::error::operation_aborted) return;
        if (!ec) self->on_datagram(n);
        self->receive();
      });
  }

  void on_datagram(size_t n) {
    bool known = false;
    for (auto& ep : targets)
      known = known || ep.address() == from.address();
    if (!known) return; // answers may be broadcast: only our targets count
    discovered_scope scope;
    if (!parse_discovery_reply(std::string{buf.data(), n},
                               from.address().to_string(), scope)) {
      spdlog::debug("discovery: skipped a datagram from {}",
                    from.address().to_string());
      return;
    }
    on_found(scope);
  }

  udp::socket socket;
  asio::steady_timer timer;
  discovery_options opts;
  callback on_found;
  std::vector<udp::endpoint> targets;
  std::array<char, 4096> buf;
  udp::endpoint from;
  bool stopped = false;
};

udp_discovery::udp_discovery(asio::io_context& ioc, discovery_options opts,
                             callback on_found)
  : impl_(std::make_shared<impl>(ioc, std::move(opts), std::move(on_found))) {
  // nop
}

udp_discovery::~udp_discovery() { impl_->stopped = true; }

std::string udp_discovery::start() {
  for (auto& t : impl_->opts.targets) {
    auto colon = t.rfind(':');
    auto host = colon == std::string::npos ? t : t.substr(0, colon);
    uint16_t port = default_discovery_port;
    if (colon != std::string::npos) {
      try {
        auto p = std::stoi(t.substr(colon + 1));
        if (p <= 0 || p > 65535)
          return "telescopes.discover: bad port in \"" + t + "\"";
        port = static_cast<uint16_t>(p);
      } catch (const std::exception&) {
        return "telescopes.discover: bad port in \"" + t + "\"";
      }
    }
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return "telescopes.discover: \"" + host + "\" is not an IP address";
    if (addr.is_v4() && addr.to_v4() == asio::ip::address_v4::broadcast())
      return "telescopes.discover: broadcast addresses are not probed";
    impl_->targets.emplace_back(addr, port);
  }
  if (impl_->targets.empty()) return {};
  boost::system::error_code ec;
  impl_->socket.open(impl_->targets.front().protocol(), ec);
  if (ec) return "discovery socket: " + ec.message();
  impl_->receive();
  impl_->send_round();
  return {};
}

void udp_discovery::stop() {
  asio::post(impl_->socket.get_executor(), [self = impl_] {
    self->stopped = true;
    boost::system::error_code ec;
    self->timer.cancel();
    self->socket.close(ec);
  });
}

} // namespace scopehub::net
