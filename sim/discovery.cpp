#include "sim/discovery.hpp"

#include <boost/asio/ip/address.hpp>
#include <spdlog/spdlog.h>

namespace scopehub::sim {

namespace asio = boost::asio;

discovery::discovery(asio::io_context& io, std::string bind, uint16_t port,
                     reply_fn reply)
  : sock_(io), bind_(std::move(bind)), port_(port), reply_(std::move(reply)) {
  // nop
}

void discovery::start() {
  udp::endpoint ep{asio::ip::make_address(bind_), port_};
  sock_.open(ep.protocol());
  sock_.set_option(asio::socket_base::reuse_address{true});
  sock_.bind(ep);
  port_ = sock_.local_endpoint().port();
  spdlog::info("discovery (scan_iscope) on udp {}:{}", bind_, port_);
  do_receive();
}

void discovery::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  sock_.close(ec);
}

void discovery::do_receive() {
  sock_.async_receive_from(asio::buffer(buf_), sender_,
                           [self = shared_from_this()](auto ec, size_t n) {
                             self->on_receive(ec, n);
                           });
}

void discovery::on_receive(const boost::system::error_code& ec, size_t n) {
  if (stopped_ || ec == asio::error::operation_aborted) return;
  if (!ec) {
    // Probes come with or without "\r\n"; anything else is ignored.
    std::string_view text{buf_.data(), n};
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
      text.remove_suffix(1);
    rapidjson::Document probe;
    probe.Parse(text.data(), text.size());
    auto m = probe.IsObject() ? probe.FindMember("method")
                              : rapidjson::Document::MemberIterator{};
    if (probe.IsObject() && m != probe.MemberEnd() && m->value.IsString()
        && std::string_view{m->value.GetString()} == "scan_iscope") {
      rapidjson::Value null_id;
      auto id = probe.FindMember("id");
      auto reply = reply_(id == probe.MemberEnd() ? null_id : id->value);
      boost::system::error_code sec;
      sock_.send_to(asio::buffer(reply), sender_, 0, sec); // small datagram
      spdlog::debug("discovery: answered {}:{}", sender_.address().to_string(),
                    sender_.port());
      if (sec) spdlog::warn("discovery: reply failed: {}", sec.message());
    } else {
      spdlog::debug("discovery: ignoring a datagram of {} bytes", n);
    }
  } else {
    spdlog::warn("discovery: receive failed: {}", ec.message());
  }
  do_receive();
}

} // namespace scopehub::sim
