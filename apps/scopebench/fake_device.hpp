#pragma once

// A minimal, fast fake Seestar for scopebench: a TCP server on 127.0.0.1
// speaking just enough of the JSON-RPC line protocol (protocol/seestar.hpp)
// for scopehub's telescope actor. It answers the connect-time reads and
// the polls, answers set_control_value with 0 (and counts it), and emits
// PiStatus events whose `temp` carries an event sequence number, so that a
// client receiving the resulting `system` status_update knows which event
// it is and (same process, same clock) when the device sent it.
//
// Single-threaded: every call and handler runs on the io_context's thread.

#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "apps/scopebench/common.hpp"

namespace scopebench {

class device_conn;

class fake_device {
 public:
  explicit fake_device(boost::asio::io_context& ioc);
  ~fake_device();

  /// Binds 127.0.0.1:0 and starts accepting; returns the port.
  uint16_t start();

  /// Stops accepting and closes every connection.
  void stop();

  /// Sends PiStatus with temp = `seq` to every connection; remembers the
  /// send time. Sequence numbers start at 1 and must be consecutive.
  void emit(uint64_t seq);

  /// When event `seq` was emitted (time_point{} if never).
  time_point emitted_at(uint64_t seq) const {
    return seq < emit_times_.size() ? emit_times_[seq] : time_point{};
  }

  /// Forgets the emit times (before a new measurement).
  void reset_events() { emit_times_.clear(); }

  /// Connections the server holds to us now.
  size_t connections() const;

  /// set_control_value requests received so far.
  uint64_t control_calls() const { return control_calls_; }

  /// Requests of any method received so far.
  uint64_t requests() const { return requests_; }

  // for device_conn
  void count_request(bool control) {
    ++requests_;
    if (control) ++control_calls_;
  }

 private:
  void do_accept();

  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::weak_ptr<device_conn>> conns_;
  std::vector<time_point> emit_times_;
  uint64_t control_calls_ = 0;
  uint64_t requests_ = 0;
};

} // namespace scopebench
