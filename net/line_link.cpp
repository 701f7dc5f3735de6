#include "net/line_link.hpp"

#include <deque>
#include <string_view>

#include <array>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "actors/messages.hpp"
#include "caf/send.hpp"
#include "protocol/seestar.hpp"

namespace scopehub::net {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

/// One device connection: resolve, connect with a timeout, then a read
/// loop and a write queue with one write in flight, all on one strand.
class line_link : public device_link,
                  public std::enable_shared_from_this<line_link> {
 public:
  line_link(asio::io_context& ioc, caf::actor owner, uint64_t id,
            line_link_options opts)
    : strand_(asio::make_strand(ioc)), resolver_(strand_), socket_(strand_),
      timer_(strand_), owner_(std::move(owner)), id_(id), opts_(opts),
      framer_(opts.max_line) {
    // nop
  }

  ~line_link() override { report_down("link destroyed"); }

  void start(const std::string& host, uint16_t port,
             std::chrono::milliseconds timeout) {
    host_ = host + ":" + std::to_string(port);
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && !self->connected_) self->shutdown("connect timeout");
    });
    resolver_.async_resolve(
      host, std::to_string(port),
      [self = shared_from_this()](error_code ec,
                                  tcp::resolver::results_type eps) {
        if (ec) return self->fail(ec, "resolve");
        asio::async_connect(self->socket_, eps,
                            [self](error_code ec, const tcp::endpoint&) {
                              self->on_connect(ec);
                            });
      });
  }

  void write(std::string line) override {
    asio::post(strand_,
               [self = shared_from_this(), line = std::move(line)]() mutable {
                 self->enqueue(std::move(line));
               });
  }

  void close() override {
    asio::post(strand_, [self = shared_from_this()] {
      self->shutdown("closed by owner");
    });
  }

 private:
  void on_connect(error_code ec) {
    if (ec) return fail(ec, "connect");
    if (down_) return;
    connected_ = true;
    timer_.cancel();
    socket_.set_option(tcp::no_delay(true));
    spdlog::debug("line_link {}: connected to {}", id_, host_);
    caf::anon_send(owner_, link_up_atom_v, id_);
    do_read();
    if (!queue_.empty() && !writing_) do_write();
  }

  void do_read() {
    socket_.async_read_some(asio::buffer(rbuf_), [self = shared_from_this()](
                                                   error_code ec, size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(error_code ec, size_t n) {
    if (ec) return fail(ec, "read");
    framer_.feed(
      reinterpret_cast<const uint8_t*>(rbuf_.data()), n,
      [this](std::string_view line) {
        caf::anon_send(owner_, link_line_atom_v, id_, std::string{line});
      },
      [this](size_t dropped) {
        spdlog::warn("line_link {}: {} sent an overlong line ({} bytes "
                     "dropped so far)",
                     id_, host_, dropped);
      });
    do_read();
  }

  void enqueue(std::string line) {
    if (down_) return;
    queued_bytes_ += line.size();
    if (queued_bytes_ > opts_.max_write_queue)
      return shutdown("write queue over its limit");
    queue_.push_back(std::move(line));
    if (connected_ && !writing_) do_write();
  }

  void do_write() {
    writing_ = true;
    asio::async_write(socket_, asio::buffer(queue_.front()),
                      [self = shared_from_this()](error_code ec, size_t) {
                        self->on_write(ec);
                      });
  }

  void on_write(error_code ec) {
    writing_ = false;
    // Shut down meanwhile (a read saw EOF first): the queue is gone.
    if (down_) return;
    if (ec) return fail(ec, "write");
    queued_bytes_ -= queue_.front().size();
    queue_.pop_front();
    if (!queue_.empty()) do_write();
  }

  void fail(error_code ec, const char* what) {
    if (ec == asio::error::operation_aborted && down_) return;
    std::string reason = std::string{what} + ": " + ec.message();
    if (ec == asio::error::eof) reason = "device closed the connection";
    shutdown(reason);
  }

  void shutdown(const std::string& reason) {
    if (down_) return;
    error_code ignored;
    timer_.cancel();
    resolver_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    // The line being written must outlive its (now aborted) write.
    queue_.resize(writing_ ? 1 : 0);
    report_down(reason);
  }

  void report_down(const std::string& reason) {
    if (down_) return;
    down_ = true;
    spdlog::debug("line_link {}: {} down: {}", id_, host_, reason);
    caf::anon_send(owner_, link_down_atom_v, id_, reason);
  }

  asio::strand<asio::io_context::executor_type> strand_;
  tcp::resolver resolver_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  caf::actor owner_;
  uint64_t id_;
  line_link_options opts_;
  protocol::seestar::line_framer framer_;
  std::array<char, 16 * 1024> rbuf_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  std::string host_;
  bool connected_ = false;
  bool down_ = false;
  bool writing_ = false; ///< one async_write in flight
};

} // namespace

link_factory make_line_link_factory(asio::io_context& ioc,
                                    line_link_options opts) {
  return [&ioc, opts](caf::actor owner, uint64_t id, const std::string& host,
                      uint16_t port, std::chrono::milliseconds timeout) {
    auto link = std::make_shared<line_link>(ioc, std::move(owner), id, opts);
    link->start(host, port, timeout);
    return std::shared_ptr<device_link>{link};
  };
}

} // namespace scopehub::net
