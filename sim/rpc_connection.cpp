#include "sim/rpc_connection.hpp"

#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "sim/rpc_server.hpp"

namespace scopehub::sim {

namespace asio = boost::asio;

rpc_connection::rpc_connection(tcp::socket sock,
                               std::weak_ptr<rpc_server> server, uint64_t id,
                               size_t max_line, size_t max_queue_bytes)
  : sock_(std::move(sock)), server_(std::move(server)), id_(id),
    framer_(max_line), max_queue_bytes_(max_queue_bytes) {
  boost::system::error_code ec;
  auto ep = sock_.remote_endpoint(ec);
  peer_ = ec ? std::string{"?"}
             : ep.address().to_string() + ":" + std::to_string(ep.port());
  sock_.set_option(tcp::no_delay{true}, ec);
}

void rpc_connection::run() { do_read(); }

void rpc_connection::do_read() {
  if (!open_ || stalled_ || reading_) return;
  reading_ = true;
  sock_.async_read_some(
    asio::buffer(rbuf_),
    [self = shared_from_this()](auto ec, size_t n) { self->on_read(ec, n); });
}

void rpc_connection::on_read(const boost::system::error_code& ec, size_t n) {
  reading_ = false;
  if (ec) return fail(ec, "read");
  if (stalled_) {
    held_in_.append(reinterpret_cast<const char*>(rbuf_.data()), n);
    return;
  }
  process(rbuf_.data(), n);
  do_read();
}

void rpc_connection::process(const uint8_t* data, size_t n) {
  auto srv = server_.lock();
  if (!srv) return close("simulator stopped");
  auto self = shared_from_this();
  framer_.feed(
    data, n,
    [&](std::string_view line) {
      if (open_) srv->on_line(self, line);
    },
    [&](size_t dropped) {
      spdlog::warn("[{}] client #{} ({}): request line over the limit, "
                   "{} bytes dropped",
                   srv->name(), id_, peer_, dropped);
    });
}

void rpc_connection::send(shared_line line) {
  if (!open_) return;
  queued_bytes_ += line->size();
  queue_.push_back(std::move(line));
  if (queued_bytes_ > max_queue_bytes_) {
    spdlog::warn("client #{} ({}): output backlog over {} bytes, dropping it",
                 id_, peer_, max_queue_bytes_);
    return close("slow client");
  }
  do_write();
}

void rpc_connection::do_write() {
  if (!open_ || writing_ || stalled_) return;
  if (queue_.empty()) {
    if (close_when_flushed_) close("closed after flush");
    return;
  }
  writing_ = true;
  asio::async_write(
    sock_, asio::buffer(*queue_.front()),
    [self = shared_from_this()](auto ec, size_t) { self->on_write(ec); });
}

void rpc_connection::on_write(const boost::system::error_code& ec) {
  writing_ = false;
  if (ec) return fail(ec, "write");
  if (!queue_.empty()) {
    queued_bytes_ -= queue_.front()->size();
    queue_.pop_front();
  }
  do_write();
}

void rpc_connection::close_after_flush() {
  close_when_flushed_ = true;
  if (!writing_ && (queue_.empty() || stalled_)) close("closed after flush");
}

void rpc_connection::close(std::string_view why) {
  if (!open_) return;
  open_ = false;
  spdlog::debug("client #{} ({}): closing: {}", id_, peer_, why);
  boost::system::error_code ec;
  sock_.shutdown(tcp::socket::shutdown_both, ec);
  sock_.close(ec);
  // The queue stays: a write in flight may still reference its front.
  auto keep = std::move(keep_alive_); // may release the last reference
}

void rpc_connection::set_stalled(bool stalled) {
  if (stalled_ == stalled || !open_) return;
  stalled_ = stalled;
  if (stalled) {
    keep_alive_ = shared_from_this();
    return;
  }
  auto keep = std::move(keep_alive_);
  if (!held_in_.empty()) {
    std::string held;
    held.swap(held_in_);
    process(reinterpret_cast<const uint8_t*>(held.data()), held.size());
  }
  do_read();
  do_write();
}

void rpc_connection::fail(const boost::system::error_code& ec,
                          const char* what) {
  if (!open_ || ec == asio::error::operation_aborted) return;
  if (ec == asio::error::eof || ec == asio::error::connection_reset
      || ec == asio::error::broken_pipe)
    spdlog::info("client #{} ({}) disconnected", id_, peer_);
  else
    spdlog::warn("client #{} ({}): {} failed: {}", id_, peer_, what,
                 ec.message());
  close(what);
}

} // namespace scopehub::sim
