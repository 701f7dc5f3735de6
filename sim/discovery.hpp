#pragma once

// UDP discovery answer (port 4720 on a real Seestar): replies to
// `scan_iscope` probes, unicast to the sender, with the reply line the
// owner builds (so it can carry the live TCP port and client count).

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <rapidjson/document.h>

namespace scopehub::sim {

class discovery : public std::enable_shared_from_this<discovery> {
 public:
  using udp = boost::asio::ip::udp;

  /// Builds the reply datagram for a probe with request id `id`.
  using reply_fn = std::function<std::string(const rapidjson::Value& id)>;

  discovery(boost::asio::io_context& io, std::string bind, uint16_t port,
            reply_fn reply);

  /// Binds; throws boost::system::system_error on failure.
  void start();

  void stop();

  /// The bound UDP port (after start()).
  uint16_t port() const { return port_; }

 private:
  void do_receive();
  void on_receive(const boost::system::error_code& ec, size_t n);

  udp::socket sock_;
  std::string bind_;
  uint16_t port_;
  reply_fn reply_;
  udp::endpoint sender_;
  std::array<char, 2048> buf_{};
  bool stopped_ = false;
};

} // namespace scopehub::sim
