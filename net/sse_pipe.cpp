// net/sse_pipe: the event-stream implementation of a pipe (see the
// header for the wire format). One object per stream, alive while an
// operation of its own holds it, like net/ws_pipe:
//
//   head written --> open --(close() / queue over limit / client EOF)--> done
//
// "done" reports (closed_atom, code, reason) to the session exactly once.
// A template on the byte stream (tcp_stream or tls_stream), as ws_pipe is.

#include "net/sse_pipe.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <optional>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <rapidjson/document.h>
#include <spdlog/spdlog.h>

#include "actors/messages.hpp"
#include "caf/send.hpp"
#include "protocol/status.hpp"

#ifndef SCOPEHUB_VERSION
#  define SCOPEHUB_VERSION "0.0.0"
#endif

namespace scopehub::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using error_code = beast::error_code;

constexpr uint16_t code_gone = 1001;
constexpr uint16_t code_abnormal = 1006;
constexpr uint16_t code_try_later = 1013;
constexpr uint16_t code_slow_consumer = 4002;

/// The JSON string `s` (already escaped inside the frame) as text.
std::string_view view_of(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

} // namespace

std::map<std::string, uint64_t> parse_event_id(std::string_view id) {
  std::map<std::string, uint64_t> out;
  while (!id.empty()) {
    auto comma = id.find(',');
    auto part = id.substr(0, comma);
    id = comma == std::string_view::npos ? std::string_view{}
                                         : id.substr(comma + 1);
    auto colon = part.find(':');
    if (colon == 0 || colon == std::string_view::npos || part.size() > 40)
      continue;
    auto digits = part.substr(colon + 1);
    if (digits.empty() || digits.size() > 18) continue;
    uint64_t seq = 0;
    bool ok = true;
    for (char c : digits) {
      if (c < '0' || c > '9') {
        ok = false;
        break;
      }
      seq = seq * 10 + static_cast<uint64_t>(c - '0');
    }
    auto name = part.substr(0, colon);
    if (ok && protocol::category_from_string(name))
      out[std::string{name}] = seq;
  }
  return out;
}

std::string to_event(std::string_view frame,
                     std::map<std::string, uint64_t>& last_ids,
                     std::string_view telescope) {
  rapidjson::Document doc;
  doc.Parse(frame.data(), frame.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("type")
      || !doc["type"].IsString())
    return {};
  auto type = view_of(doc["type"]);
  std::string out;
  if (type == "heartbeat") {
    out = ": heartbeat";
    const auto& p = doc["payload"];
    if (p.IsObject() && p.HasMember("server_time")
        && p["server_time"].IsInt64())
      out += ' ' + std::to_string(p["server_time"].GetInt64());
    out += "\n\n";
    return out;
  }
  if (type == "status_update") {
    const auto& p = doc["payload"];
    if (!p.IsObject() || !p.HasMember("category") || !p["category"].IsString()
        || !p.HasMember("seq") || !p["seq"].IsUint64())
      return {};
    last_ids[std::string{view_of(p["category"])}] = p["seq"].GetUint64();
    out = "id: ";
    bool first = true;
    for (auto& [cat, seq] : last_ids) {
      if (!first) out += ',';
      first = false;
      out += cat;
      out += ':';
      out += std::to_string(seq);
    }
    out += '\n';
  } else if (type == "telescope_discovered" || type == "telescope_lost") {
    if (!telescope.empty()
        && (!doc.HasMember("telescope_id") || !doc["telescope_id"].IsString()
            || view_of(doc["telescope_id"]) != telescope))
      return {};
  } else if (type != "error") {
    return {};
  }
  // Our frames are one line; a line break would end the data field.
  out += "data: ";
  for (char c : frame)
    if (c == '\n')
      out += "\ndata: ";
    else if (c != '\r')
      out += c;
  out += "\n\n";
  return out;
}

namespace {

template<class Stream>
class sse_pipe final : public ws_pipe,
                       public std::enable_shared_from_this<sse_pipe<Stream>> {
  using std::enable_shared_from_this<sse_pipe<Stream>>::shared_from_this;

 public:
  sse_pipe(Stream stream, std::shared_ptr<const http_context> ctx,
           connection_slot slot, uint64_t id, std::string peer)
    : stream_(std::move(stream)), executor_(stream_.get_executor()),
      ctx_(std::move(ctx)), counters_(*ctx_->counters), slot_(std::move(slot)),
      id_(id), peer_(std::move(peer)) {
    ++counters_.sse_open;
    ++counters_.sse_streams;
  }

  ~sse_pipe() override {
    report_closed(code_abnormal, "connection dropped");
    --counters_.sse_open;
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
      self->request_close(code, std::move(r));
    });
  }

  void consumed(size_t) override {
    // The client of an event stream sends no messages.
  }

  size_t queued_bytes() const override {
    return queued_.load(std::memory_order_relaxed);
  }

  const std::string& peer() const override { return peer_; }

  uint64_t id() const override { return id_; }

  /// Runs on the strand: the response head, the session, the read loop.
  void start(upgrade_info info, unsigned version, std::string extra) {
    beast::get_lowest_layer(stream_).expires_never();
    std::string head
      = version == 10 ? "HTTP/1.0 200 OK\r\n" : "HTTP/1.1 200 OK\r\n";
    head += "Server: scopehub/" SCOPEHUB_VERSION "\r\n"
            "Content-Type: text/event-stream; charset=utf-8\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n"
            "X-Accel-Buffering: no\r\n";
    head += extra;
    head += "\r\n";
    head += "retry: " + std::to_string(ctx_->opts.sse_retry_ms) + "\n\n";
    push({std::make_shared<const std::string>(std::move(head)), 0});
    telescope_ = info.telescope_id;
    if (auto i = info.headers.find("last-event-id"); i != info.headers.end())
      last_ids_ = parse_event_id(i->second);
    spdlog::info("sse c{} open peer={} path={}", id_, peer_, info.path);
    if (ctx_->hooks.on_websocket)
      actor_ = ctx_->hooks.on_websocket(shared_from_this(), info);
    if (!actor_) {
      ++counters_.refused;
      request_close(code_try_later, "too many connections");
    }
    do_read();
  }

 private:
  /// One write: the bytes on the wire and the frame size the session
  /// counted for it (reported back in `drained`).
  struct item {
    std::shared_ptr<const std::string> wire;
    size_t counted = 0;
  };

  // -- read loop: only to see the client leave ------------------------------

  void do_read() {
    stream_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](
                                                      error_code ec, size_t n) {
      if (ec || self->finished_)
        return self->on_gone(ec ? ec.message() : "closed");
      self->counters_.bytes_in.fetch_add(n, std::memory_order_relaxed);
      self->do_read(); // a stray byte is ignored; EOF ends the stream
    });
  }

  void on_gone(const std::string& why) {
    finish();
    report_closed(close_code_ ? close_code_ : code_gone,
                  close_code_ ? close_reason_ : "client went away: " + why);
  }

  // -- write queue ----------------------------------------------------------

  void enqueue(std::shared_ptr<const std::string> frame) {
    if (closing_ || finished_) return;
    auto event = to_event(*frame, last_ids_, telescope_);
    if (event.empty()) {
      // Not for this transport: drained at once, for the session's count.
      tell(drained_atom_v, static_cast<uint64_t>(frame->size()));
      return;
    }
    const auto limit = ctx_->opts.ws.write_queue_limit_bytes;
    const auto queued = queued_.load(std::memory_order_relaxed);
    if (queued + event.size() > limit) {
      ++counters_.closed_slow_consumer;
      spdlog::warn("sse c{} peer={} slow consumer: {} bytes queued, limit {}",
                   id_, peer_, queued, limit);
      return request_close(code_slow_consumer, "slow consumer");
    }
    push(
      {std::make_shared<const std::string>(std::move(event)), frame->size()});
  }

  void push(item x) {
    queued_.fetch_add(x.wire->size(), std::memory_order_relaxed);
    queue_.push_back(std::move(x));
    if (!writing_) do_write();
  }

  void do_write() {
    writing_ = true;
    // Beyond the limit of one write, the stream is dead: the heartbeat
    // supervisor closes the session for lack of liveness anyway.
    asio::async_write(stream_, asio::buffer(*queue_.front().wire),
                      [self = shared_from_this()](error_code ec, size_t) {
                        self->on_write(ec);
                      });
  }

  void on_write(error_code ec) {
    writing_ = false;
    auto done = std::move(queue_.front());
    queue_.pop_front();
    queued_.fetch_sub(done.wire->size(), std::memory_order_relaxed);
    if (ec) {
      close_socket(); // the read loop reports the end
      return;
    }
    counters_.bytes_out.fetch_add(done.wire->size(), std::memory_order_relaxed);
    if (done.counted > 0) {
      ++counters_.frames_out;
      tell(drained_atom_v, static_cast<uint64_t>(done.counted));
      tell(alive_atom_v); // the client reads: it is there
    }
    if (finished_) return;
    if (!queue_.empty()) return do_write();
    if (closing_) close_socket(); // the final event is out
  }

  // -- closing --------------------------------------------------------------

  /// Drops what is queued, writes a last `event: close` and ends.
  void request_close(uint16_t code, std::string reason) {
    if (closing_ || finished_) return;
    closing_ = true;
    close_code_ = code;
    close_reason_ = std::move(reason);
    if (queue_.size() > (writing_ ? 1u : 0u)) queue_.resize(writing_ ? 1 : 0);
    queued_.store(writing_ ? queue_.front().wire->size() : 0,
                  std::memory_order_relaxed);
    std::string last = "event: close\ndata: {\"code\":" + std::to_string(code)
                       + ",\"reason\":\"";
    for (char c : close_reason_)
      if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20)
        last += c;
    last += "\"}\n\n";
    queue_.push_back({std::make_shared<const std::string>(std::move(last)), 0});
    if (!writing_) do_write();
  }

  void finish() {
    finished_ = true;
    close_socket();
  }

  void close_socket() {
    error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(
      asio::ip::tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  // -- reports to the actor -------------------------------------------------

  template<class... Ts>
  void tell(Ts&&... xs) {
    if (actor_) caf::anon_send(actor_, std::forward<Ts>(xs)...);
  }

  void report_closed(uint16_t code, std::string reason) {
    if (reported_) return;
    reported_ = true;
    spdlog::info("sse c{} closed peer={} code={} reason={}", id_, peer_, code,
                 reason);
    tell(closed_atom_v, code, std::move(reason));
    actor_ = caf::actor{};
  }

  // -- state (strand only, except queued_) -----------------------------------

  Stream stream_;
  asio::any_io_executor executor_;
  std::deque<item> queue_;
  std::atomic<size_t> queued_{0};
  std::array<char, 256> scratch_{};
  caf::actor actor_;
  std::shared_ptr<const http_context> ctx_;
  net_counters& counters_;
  connection_slot slot_;
  uint64_t id_;
  std::string peer_;
  std::map<std::string, uint64_t> last_ids_;
  std::string telescope_; ///< the stream's telescope
  uint16_t close_code_ = 0;
  std::string close_reason_;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool reported_ = false;
};

template<class Stream>
void start_stream(Stream stream, std::shared_ptr<const http_context> ctx,
                  upgrade_info info, connection_slot slot, uint64_t id,
                  unsigned version, std::string extra) {
  auto peer = info.peer;
  auto pipe = std::make_shared<sse_pipe<Stream>>(
    std::move(stream), std::move(ctx), std::move(slot), id, std::move(peer));
  pipe->start(std::move(info), version, std::move(extra));
}

} // namespace

void start_sse(beast::tcp_stream stream,
               std::shared_ptr<const http_context> ctx, upgrade_info info,
               connection_slot slot, uint64_t id, unsigned version,
               std::string extra_headers) {
  start_stream(std::move(stream), std::move(ctx), std::move(info),
               std::move(slot), id, version, std::move(extra_headers));
}

void start_sse(tls_stream stream, std::shared_ptr<const http_context> ctx,
               upgrade_info info, connection_slot slot, uint64_t id,
               unsigned version, std::string extra_headers) {
  start_stream(std::move(stream), std::move(ctx), std::move(info),
               std::move(slot), id, version, std::move(extra_headers));
}

} // namespace scopehub::net
