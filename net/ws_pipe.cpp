// net/ws_pipe: the Beast implementation of a WebSocket pipe. One object
// per connection, alive while an operation of its own holds it (every
// handler binds shared_from_this); the session actor holds a weak_ptr.
//
//   handshake --> open --(close() / queue over limit)--> closing --> done
//                  |                                       |
//                  `--(read error, client close frame)-----+--> done
//
// "done" reports (closed_atom, code, reason) to the actor exactly once;
// after it the pipe sends nothing more. In "closing" the queued frames
// not yet on the wire are dropped, the close frame follows the write in
// flight, and a timer drops the TCP connection if the peer never lets
// the close finish (a client that stopped reading blocks our write).
//
// The class is a template on the byte stream, beast::tcp_stream (ws://)
// or tls_stream (wss://), and the same code serves both. Over TLS, Beast's
// close handshake ends with a TLS shutdown (close_notify) instead of a
// TCP half-close; the close timer bounds it all the same.
//
// A little over 400 lines: one class and one state machine, kept in one
// file so that the diagram and every transition read together.

#include "net/ws_pipe.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <spdlog/spdlog.h>

#include "actors/messages.hpp"
#include "caf/send.hpp"
#include "net/frame_queue.hpp"
#include "net/ws_accept.hpp"

#ifndef SCOPEHUB_VERSION
#  define SCOPEHUB_VERSION "0.0.0"
#endif

namespace scopehub::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using error_code = beast::error_code;
using tcp = asio::ip::tcp;

// Close codes the pipe reports or sends itself (protocol.md).
constexpr uint16_t code_no_status = 1005;
constexpr uint16_t code_abnormal = 1006;
constexpr uint16_t code_protocol_error = 1002;
constexpr uint16_t code_too_big = 1009;
constexpr uint16_t code_try_later = 1013;
constexpr uint16_t code_slow_consumer = 4002;
/// The first close code RFC 6455 leaves undefined (7.4.2: 0-4999 only).
constexpr uint16_t code_first_undefined = 5000;

/// Longest close reason the protocol allows (RFC 6455, 5.5.1).
constexpr size_t max_reason = 123;

/// Beast's own message limit: far above ours, so that only absurd frame
/// headers reach it (see configure()).
size_t backstop_size(size_t max_message_size) {
  return std::max(max_message_size * 16, size_t{1024 * 1024});
}

/// A close code plus its reason text.
struct close_info {
  uint16_t code = 0;
  std::string reason;
};

/// `Stream` is beast::tcp_stream or tls_stream (net/ws_accept.hpp).
template<class Stream>
class beast_ws_pipe final
  : public ws_pipe,
    public std::enable_shared_from_this<beast_ws_pipe<Stream>> {
  using std::enable_shared_from_this<beast_ws_pipe<Stream>>::shared_from_this;

 public:
  beast_ws_pipe(Stream stream, std::shared_ptr<const http_context> ctx,
                connection_slot slot, uint64_t id, std::string peer)
    : ws_(std::move(stream)), executor_(ws_.get_executor()),
      ctx_(std::move(ctx)), counters_(*ctx_->counters), slot_(std::move(slot)),
      id_(id), peer_(std::move(peer)) {
    // nop
  }

  ~beast_ws_pipe() override {
    // Reached with the report still due only when the io_context went
    // away under pending operations.
    report_closed({code_abnormal, "connection dropped"});
    if (counted_) --counters_.websockets_open;
  }

  // -- ws_pipe interface (any thread) ---------------------------------------

  void send(std::shared_ptr<const std::string> frame) override {
    if (!frame) return;
    asio::post(executor_,
               [self = shared_from_this(), f = std::move(frame)]() mutable {
                 self->enqueue(std::move(f));
               });
  }

  void close(uint16_t code, std::string reason) override {
    asio::post(executor_, [self = shared_from_this(), code,
                           r = std::move(reason)]() mutable {
      self->request_close({code, std::move(r)});
    });
  }

  void consumed(size_t n) override {
    asio::post(executor_, [self = shared_from_this(), n] {
      self->unconsumed_ -= std::min(n, self->unconsumed_);
      if (self->read_paused_
          && self->unconsumed_ < self->ctx_->opts.ws.inbound_window)
        self->resume_read();
    });
  }

  size_t queued_bytes() const override {
    return queued_.load(std::memory_order_relaxed);
  }

  const std::string& peer() const override { return peer_; }

  uint64_t id() const override { return id_; }

  // -- handshake ------------------------------------------------------------

  /// Runs on the strand, called by accept_websocket.
  void start(http::request<http::string_body> req, upgrade_info info) {
    configure();
    handshake_.reset(new handshake{std::move(req), std::move(info)});
    ws_.async_accept(
      handshake_->req,
      [self = shared_from_this()](error_code ec) { self->on_accept(ec); });
  }

 private:
  void configure() {
    const auto& o = ctx_->opts.ws;
    // Beast's websocket timeouts replace the TCP stream's own ones.
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout t;
    t.handshake_timeout = o.handshake_timeout;
    t.idle_timeout = o.idle_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    // The size limit is ours (see on_read); Beast's own limit is only a
    // backstop for absurd frame headers. Beast 1.74 answers its own limit
    // with 1009 but then drains at most one read before closing (its
    // teardown_tcp_op), so the unread rest of the message resets the
    // connection and the client may never see the 1009. Our close drains
    // until the peer's close frame, so the client does see it.
    ws_.read_message_max(backstop_size(o.max_message_size));
    const bool deflate = o.deflate_switch
                           ? o.deflate_switch->load(std::memory_order_relaxed)
                           : o.deflate;
    if (deflate) {
      websocket::permessage_deflate pmd;
      pmd.server_enable = true;
      // Smaller window and memLevel halve the RSS per connection
      // (stack-notes §7) at a small cost in ratio for short JSON frames.
      pmd.server_max_window_bits = o.deflate_window_bits;
      pmd.memLevel = o.deflate_mem_level;
      ws_.set_option(pmd);
    }
    ws_.set_option(
      websocket::stream_base::decorator([](websocket::response_type& res) {
        res.set(http::field::server, "scopehub/" SCOPEHUB_VERSION);
      }));
    // Runs inside our own read operation, which holds the pipe alive.
    ws_.control_callback(
      [this](websocket::frame_type kind, beast::string_view) {
        if (kind != websocket::frame_type::close)
          tell(alive_atom_v);
        else if (ws_.reason().code >= code_first_undefined)
          refuse_close_code(ws_.reason().code);
      });
  }

  void on_accept(error_code ec) {
    // Only the handshake needs the request and what it granted.
    auto hs = std::move(handshake_);
    if (ec) return fail(ec, "handshake");
    ++counters_.upgrades;
    ++counters_.websockets_open;
    counted_ = true;
    spdlog::info("ws c{} open peer={} path={}", id_, peer_, hs->info.path);
    if (ctx_->hooks.on_websocket)
      actor_ = ctx_->hooks.on_websocket(shared_from_this(), hs->info);
    hs.reset();
    if (!actor_) {
      ++counters_.refused;
      request_close({code_try_later, "too many connections"});
    }
    do_read();
  }

  // -- read loop ------------------------------------------------------------

  void do_read() {
    // Beast copies each message's payload into a buffer of ours as it
    // arrives. A fixed chunk inside the pipe (not a dynamic buffer, which
    // Beast sizes to a whole TCP frame, 1,536 bytes, for every pending
    // read) keeps an idle connection's read side at read_chunk bytes; a
    // message grows message_ only while it is being read.
    ws_.async_read_some(asio::buffer(chunk_),
                        [self = shared_from_this()](error_code ec, size_t n) {
                          self->on_read(ec, n);
                        });
  }

  void on_read(error_code ec, size_t n) {
    if (ec) return on_read_error(ec);
    if (close_) {
      // After close() the session is no longer interested in input; keep
      // reading (and dropping) only to see the peer's close frame.
      message_.clear();
      return do_read();
    }
    // Never hold more than max_message_size bytes of a message.
    if (message_.size() + n > ctx_->opts.ws.max_message_size) {
      ++counters_.closed_too_big;
      spdlog::warn("ws c{} peer={} message over {} bytes", id_, peer_,
                   ctx_->opts.ws.max_message_size);
      message_ = std::string{};
      request_close({code_too_big, "message too big"});
      return do_read();
    }
    message_.append(chunk_.data(), n);
    if (!ws_.is_message_done()) return do_read();
    ++counters_.frames_in;
    counters_.bytes_in.fetch_add(message_.size(), std::memory_order_relaxed);
    if (ws_.got_text())
      tell(ws_frame_atom_v, std::exchange(message_, std::string{}));
    else
      tell(ws_binary_atom_v, static_cast<uint64_t>(
                               std::exchange(message_, std::string{}).size()));
    if (++unconsumed_ >= ctx_->opts.ws.inbound_window) {
      // The session is behind: stop reading until it consumes (a later
      // consumed() restarts the loop). TCP pushes back on the client.
      // With no read pending nothing else may hold the pipe: it holds
      // itself until it reads again (the session closes it if it quits).
      ++counters_.reads_paused;
      read_paused_ = true;
      paused_self_ = shared_from_this();
      return;
    }
    do_read();
  }

  /// Ends a pause of the read loop (consumed, or closing).
  void resume_read() {
    read_paused_ = false;
    auto keep = std::move(paused_self_);
    if (!finished_) do_read();
  }

  /// The read loop ended: the socket is done, whatever the reason.
  void on_read_error(error_code ec) {
    close_info why;
    if (close_) {
      why = *close_; // we asked first: the owner learns its own reason
    } else if (ec == websocket::error::closed) {
      const auto& r = ws_.reason();
      why.code = r.code != 0 ? r.code : code_no_status;
      why.reason.assign(r.reason.data(), r.reason.size());
    } else if (ec == websocket::error::message_too_big) {
      // Past the backstop: Beast has sent the close frame with 1009.
      ++counters_.closed_too_big;
      why = {code_too_big, "message too big"};
    } else if (ec == beast::error::timeout) {
      why = {code_abnormal, "idle timeout"};
    } else {
      why = {code_abnormal, ec.message()};
    }
    finish();
    report_closed(std::move(why));
  }

  // -- write queue ----------------------------------------------------------

  void enqueue(std::shared_ptr<const std::string> frame) {
    if (close_ || finished_) return; // a closing pipe takes nothing more
    const auto limit = ctx_->opts.ws.write_queue_limit_bytes;
    const auto queued = queued_.load(std::memory_order_relaxed);
    if (queued + frame->size() > limit) {
      ++counters_.closed_slow_consumer;
      spdlog::warn("ws c{} peer={} slow consumer: {} bytes queued, limit {}",
                   id_, peer_, queued, limit);
      return request_close({code_slow_consumer, "slow consumer"});
    }
    queued_.store(queued + frame->size(), std::memory_order_relaxed);
    queue_.push_back(std::move(frame));
    if (!writing_) do_write();
  }

  void do_write() {
    writing_ = true;
    // Frames queued behind this one: cork the socket so that they leave
    // in full segments instead of one TCP packet (and one wake-up of the
    // reader) per frame; on_write uncorks when the queue empties.
    if (!corked_ && queue_.size() > 1) set_cork(true);
    ws_.text(true);
    ws_.async_write(asio::buffer(*queue_.front()),
                    [self = shared_from_this()](error_code ec, size_t) {
                      self->on_write(ec);
                    });
  }

  void on_write(error_code ec) {
    writing_ = false;
    const auto size = pop_front();
    if (ec) {
      // The read loop notices the dead socket and reports the close.
      close_socket();
      return fail(ec, "write");
    }
    ++counters_.frames_out;
    counters_.bytes_out.fetch_add(size, std::memory_order_relaxed);
    // While frames queue up, one `drained` per batch instead of per frame
    // halves the session's messages under load; an empty queue (or a
    // closing pipe) always reports, so the session's backlog never sticks.
    untold_drained_ += size;
    if (queue_.empty() || finished_ || close_
        || untold_drained_ >= drained_batch_bytes) {
      tell(drained_atom_v, static_cast<uint64_t>(untold_drained_));
      untold_drained_ = 0;
    }
    if (corked_ && queue_.empty()) set_cork(false);
    if (finished_) return;
    if (close_ && !close_sent_) return do_close();
    if (!queue_.empty()) do_write();
  }

  /// TCP_CORK on or off. Uncorking pushes what the socket holds at once;
  /// the kernel also sends a corked partial segment after 200 ms.
  void set_cork(bool on) {
    int value = on ? 1 : 0;
    auto& socket = beast::get_lowest_layer(ws_).socket();
    if (::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_CORK, &value,
                     sizeof(value))
        == 0)
      corked_ = on;
  }

  /// Removes the written frame; returns its size.
  size_t pop_front() {
    const auto size = queue_.front()->size();
    queue_.pop_front();
    queued_.fetch_sub(size, std::memory_order_relaxed);
    return size;
  }

  /// Drops every queued frame except the one being written (its bytes
  /// must stay alive until the write completes).
  void drop_queue() {
    const size_t keep = writing_ ? 1 : 0;
    size_t kept_bytes = 0;
    if (keep != 0) kept_bytes = queue_.front()->size();
    queue_.truncate(keep);
    queued_.store(kept_bytes, std::memory_order_relaxed);
  }

  // -- closing --------------------------------------------------------------

  void request_close(close_info why) {
    if (close_ || finished_) return;
    if (why.reason.size() > max_reason) why.reason.resize(max_reason);
    close_ = std::move(why);
    drop_queue();
    // Input is dropped from now on; read on to see the peer's close.
    if (read_paused_) resume_read();
    close_timer_ = std::make_unique<asio::steady_timer>(executor_);
    close_timer_->expires_after(ctx_->opts.ws.close_timeout);
    close_timer_->async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->on_close_timeout();
    });
    if (!writing_) do_close();
  }

  void do_close() {
    close_sent_ = true;
    websocket::close_reason cr;
    cr.code = close_->code;
    cr.reason = beast::string_view{close_->reason};
    ws_.async_close(
      cr, [self = shared_from_this()](error_code ec) { self->on_close(ec); });
  }

  void on_close(error_code ec) {
    if (ec) fail(ec, "close");
    finish();
    report_closed(*close_);
  }

  void on_close_timeout() {
    if (finished_) return;
    ++counters_.close_timeouts;
    spdlog::warn("ws c{} peer={} close did not finish in time, dropping", id_,
                 peer_);
    // Aborts the pending read and write; the read loop reports close_.
    close_socket();
  }

  /// A close frame with a code RFC 6455 does not define (5000 and up:
  /// Beast 1.74's is_valid_close_code accepts every code >= 3000 and
  /// would echo it): fail the connection instead (RFC 6455 7.1.7, 7.4.2).
  /// Called inside Beast's read operation, before it writes its echo:
  /// a 1002 close frame goes out first (plain TCP, no write in flight),
  /// then the socket closes, so Beast's echo never reaches the wire.
  void refuse_close_code(uint16_t code) {
    spdlog::debug("ws c{} peer={} close code {} is not defined: failing with "
                  "1002",
                  id_, peer_, code);
    if (!close_) close_ = close_info{code_protocol_error, "invalid close code"};
    close_sent_ = true;
    auto& socket = beast::get_lowest_layer(ws_).socket();
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      if (!writing_) {
        static constexpr unsigned char frame[]
          = {0x88, 0x02, code_protocol_error >> 8, code_protocol_error & 0xFF};
        error_code ignored;
        asio::write(socket, asio::buffer(frame), ignored);
        // FIN after the frame, not a close: unread input would turn a
        // close into a reset that can destroy the frame in flight. Beast's
        // echo then fails to write, and its teardown reads to EOF.
        socket.shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
    }
    finish();
  }

  /// Ends all I/O of this pipe (idempotent).
  void finish() {
    finished_ = true;
    if (close_timer_) close_timer_->cancel();
    drop_queue();
    close_socket();
  }

  void close_socket() {
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  // -- reports to the actor -------------------------------------------------

  /// Sends one message to the owner, unless the pipe reported its close.
  template<class... Ts>
  void tell(Ts&&... xs) {
    if (actor_) caf::anon_send(actor_, std::forward<Ts>(xs)...);
  }

  /// The pipe's last word; later calls do nothing.
  void report_closed(close_info why) {
    if (reported_) return;
    reported_ = true;
    if (!counted_) return; // the handshake never finished: nobody to tell
    spdlog::info("ws c{} closed peer={} code={} reason={}", id_, peer_,
                 why.code, why.reason);
    tell(closed_atom_v, why.code, std::move(why.reason));
    actor_ = caf::actor{}; // release the handle: nothing more to say
  }

  void fail(error_code ec, const char* what) {
    if (ec == asio::error::operation_aborted || ec == websocket::error::closed)
      return;
    // A TLS peer that drops TCP after the close frame, without its own
    // close_notify: the close is done all the same.
    if (ec == asio::ssl::error::stream_truncated) return;
    spdlog::warn("ws c{} peer={} {}: {}", id_, peer_, what, ec.message());
  }

  // -- state (strand only, except queued_) -----------------------------------

  websocket::stream<Stream> ws_;
  asio::any_io_executor executor_; ///< the connection's strand
  /// Where Beast puts each piece of a message's payload as it arrives.
  static constexpr size_t read_chunk = 512;
  std::array<char, read_chunk> chunk_;
  std::string message_; ///< the message being read, handed over when done
  frame_queue queue_;
  std::atomic<size_t> queued_{0}; ///< bytes in queue_, readable anywhere
  /// Hard stop of the close handshake; made by request_close.
  std::unique_ptr<asio::steady_timer> close_timer_;
  caf::actor actor_; ///< the owning session; empty once closed
  std::shared_ptr<const http_context> ctx_;
  net_counters& counters_; ///< owned by ctx_
  connection_slot slot_;
  uint64_t id_;
  std::string peer_;
  /// The upgrade request and what it was granted, from start() until
  /// the handshake is done: an open connection does not carry them.
  struct handshake {
    http::request<http::string_body> req;
    upgrade_info info;
  };
  std::unique_ptr<handshake> handshake_;
  std::optional<close_info> close_; ///< the close we asked for, if any
  size_t unconsumed_ = 0;           ///< messages told, not yet consumed
  bool read_paused_ = false;        ///< read loop waits for consumed()
  std::shared_ptr<beast_ws_pipe> paused_self_; ///< alive while paused
  bool writing_ = false;                       ///< one write in flight
  bool corked_ = false;                        ///< TCP_CORK is on
  /// Bytes written and not reported in a `drained` yet (see on_write).
  size_t untold_drained_ = 0;
  static constexpr size_t drained_batch_bytes = 32 * 1024;
  bool close_sent_ = false; ///< async_close started
  bool finished_ = false;   ///< socket closed, queue dropped
  bool reported_ = false;   ///< closed_atom sent (or not due)
  bool counted_ = false;    ///< handshake done, counted as open
};

} // namespace

std::string validate(const ws_options& opts) {
  using std::chrono::seconds;
  if (opts.max_message_size < 1024 || opts.max_message_size > (64u << 20))
    return "ws max_message_size must be within [1 KiB, 64 MiB]";
  if (opts.write_queue_limit_bytes < 4096)
    return "ws write_queue_limit_bytes must be at least 4 KiB";
  if (opts.idle_timeout < seconds{1} || opts.idle_timeout > seconds{960})
    return "ws idle_timeout must be within [1 s, 960 s]";
  if (opts.handshake_timeout < seconds{1}
      || opts.handshake_timeout > seconds{120})
    return "ws handshake_timeout must be within [1 s, 120 s]";
  if (opts.close_timeout <= seconds{0} || opts.close_timeout > seconds{60})
    return "ws close_timeout must be within (0 s, 60 s]";
  if (opts.inbound_window < 1 || opts.inbound_window > 65536)
    return "ws inbound_window must be within [1, 65536]";
  if (opts.deflate_window_bits < 9 || opts.deflate_window_bits > 15)
    return "ws deflate window bits must be within [9, 15]";
  if (opts.deflate_mem_level < 1 || opts.deflate_mem_level > 9)
    return "ws deflate memory level must be within [1, 9]";
  return {};
}

namespace {

template<class Stream>
void start_pipe(Stream stream, http::request<http::string_body> req,
                std::shared_ptr<const http_context> ctx, upgrade_info info,
                connection_slot slot, uint64_t id) {
  auto pipe = std::make_shared<beast_ws_pipe<Stream>>(
    std::move(stream), std::move(ctx), std::move(slot), id, info.peer);
  pipe->start(std::move(req), std::move(info));
}

} // namespace

void accept_websocket(beast::tcp_stream stream,
                      http::request<http::string_body> req,
                      std::shared_ptr<const http_context> ctx,
                      upgrade_info info, connection_slot slot, uint64_t id) {
  start_pipe(std::move(stream), std::move(req), std::move(ctx), std::move(info),
             std::move(slot), id);
}

void accept_websocket(tls_stream stream, http::request<http::string_body> req,
                      std::shared_ptr<const http_context> ctx,
                      upgrade_info info, connection_slot slot, uint64_t id) {
  start_pipe(std::move(stream), std::move(req), std::move(ctx), std::move(info),
             std::move(slot), id);
}

} // namespace scopehub::net
