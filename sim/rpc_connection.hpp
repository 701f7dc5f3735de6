#pragma once

// One TCP client of the simulated device, in the shape of Beast's async
// examples: shared_from_this lifetimes, one write in flight, a bounded
// output queue. It only moves bytes; what a line means is the server's
// business (rpc_server::on_line).

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

#include "protocol/seestar.hpp"

namespace scopehub::sim {

class rpc_server;

/// An immutable line shared by every client it goes to ("\r\n" included).
using shared_line = std::shared_ptr<const std::string>;

class rpc_connection : public std::enable_shared_from_this<rpc_connection> {
 public:
  using tcp = boost::asio::ip::tcp;

  /// `max_line`: longest request line accepted; `max_queue_bytes`: output
  /// backlog at which the client is dropped as too slow.
  rpc_connection(tcp::socket sock, std::weak_ptr<rpc_server> server,
                 uint64_t id, size_t max_line, size_t max_queue_bytes);

  /// Starts reading.
  void run();

  /// Queues one line for writing. No-op once closed.
  void send(shared_line line);

  /// Closes once everything queued so far has been written.
  void close_after_flush();

  /// Closes now (abortive for queued data).
  void close(std::string_view why);

  /// A stalled connection neither reads nor writes; the socket stays
  /// open. Unstalling resumes both.
  void set_stalled(bool stalled);

  bool is_open() const { return open_; }
  uint64_t id() const { return id_; }
  const std::string& peer() const { return peer_; }

  /// Messages (replies and events) sent so far, counted for fault plans.
  uint64_t messages = 0;

 private:
  void do_read();
  void on_read(const boost::system::error_code& ec, size_t n);
  void process(const uint8_t* data, size_t n);
  void do_write();
  void on_write(const boost::system::error_code& ec);
  void fail(const boost::system::error_code& ec, const char* what);

  tcp::socket sock_;
  std::weak_ptr<rpc_server> server_;
  uint64_t id_;
  std::string peer_;
  protocol::seestar::line_framer framer_;
  std::array<uint8_t, 8192> rbuf_{};
  std::string held_in_; // bytes read while stalled
  std::deque<shared_line> queue_;
  size_t queued_bytes_ = 0;
  size_t max_queue_bytes_;
  bool open_ = true;
  bool reading_ = false;
  bool writing_ = false;
  bool stalled_ = false;
  bool close_when_flushed_ = false;
  /// Held while stalled: no pending handler keeps the connection alive
  /// then, yet the socket must stay open.
  std::shared_ptr<rpc_connection> keep_alive_;
};

} // namespace scopehub::sim
