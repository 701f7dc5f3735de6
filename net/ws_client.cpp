// net/ws_client: the Beast implementation behind ws_client.hpp. One impl
// object per client, owned by the ws_client and by every pending handler
// (each binds shared_from_this), all of it on one strand.
//
// Connection attempts carry a generation number: a handler of an older
// connection finds a newer generation and does nothing, so one lost
// connection counts as one failure however many of its operations fail
// (the original service counted a reconnect attempt twice).
//
// Over 400 lines: one class and one state machine (see the diagram in
// ws_client.hpp), kept in one file so that every transition reads
// together.

#include "net/ws_client.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <deque>
#include <random>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "protocol/backoff.hpp"
#include "protocol/codec.hpp"

namespace scopehub::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = beast::error_code;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Without any frame (or pong) for this long the link counts as lost.
constexpr auto idle_limit = std::chrono::seconds{75};

/// The parts of a ws:// URL the client needs.
struct url_parts {
  std::string host;
  std::string port = "80";
  std::string target = "/api/ws"; // path plus query
  bool tls = false;               // wss://
  std::string error;              // non-empty: unusable URL
};

url_parts split_url(const std::string& url) {
  url_parts out;
  std::string_view rest{url};
  if (rest.substr(0, 6) == "wss://") {
    out.tls = true;
    out.port = "443";
    rest.remove_prefix(6);
  } else if (rest.substr(0, 5) == "ws://") {
    rest.remove_prefix(5);
  } else {
    out.error = "URL must start with ws:// or wss://";
    return out;
  }
  auto slash = rest.find_first_of("/?");
  auto authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    auto tail = std::string{rest.substr(slash)};
    out.target = tail[0] == '?' ? "/api/ws" + tail : tail;
  }
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos
      && authority.find(']', colon) == std::string_view::npos) {
    out.port = std::string{authority.substr(colon + 1)};
    authority = authority.substr(0, colon);
  }
  if (authority.size() > 2 && authority.front() == '[')
    authority = authority.substr(1, authority.size() - 2);
  out.host = std::string{authority};
  if (out.host.empty() || out.port.empty())
    out.error = "URL has no host or port";
  return out;
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

void add_query(std::string& target, std::string_view key,
               std::string_view value) {
  target += target.find('?') == std::string::npos ? '?' : '&';
  target += key;
  target += '=';
  target += percent_encode(value);
}

std::string random_prefix(uint32_t seed) {
  std::minstd_rand rng{seed};
  std::uniform_int_distribution<uint32_t> dist;
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08x", dist(rng));
  return buf;
}

/// Compact form of a JSON object text; nullopt when it is not one.
std::optional<std::string> compact_object(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.empty() ? "{}" : text.c_str());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  return protocol::to_json(doc);
}

} // namespace

std::string_view to_string(connection_state x) noexcept {
  switch (x) {
    case connection_state::connecting: return "connecting";
    case connection_state::open: return "open";
    case connection_state::reconnecting: return "reconnecting";
    case connection_state::closed: return "closed";
  }
  return "?";
}

std::string_view to_string(command_status x) noexcept {
  switch (x) {
    case command_status::ok: return "ok";
    case command_status::failed: return "failed";
    case command_status::timeout: return "timeout";
    case command_status::cancelled: return "cancelled";
    case command_status::rejected: return "rejected";
  }
  return "?";
}

// -- impl
// ----------------------------------------------------------------------

class ws_client::impl : public std::enable_shared_from_this<impl> {
 public:
  using strand_type = asio::strand<asio::io_context::executor_type>;
  using plain_stream = websocket::stream<beast::tcp_stream>;
  using tls_stream = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

  impl(asio::io_context& ioc, ws_client_options opts)
    : strand_(asio::make_strand(ioc)), opts_(std::move(opts)),
      resolver_(strand_), retry_timer_(strand_), stable_timer_(strand_),
      heartbeat_timer_(strand_), tls_ctx_(asio::ssl::context::tls_client),
      rng_(opts_.seed != 0 ? opts_.seed : std::random_device{}()) {
    if (opts_.id_prefix.empty())
      opts_.id_prefix = random_prefix(static_cast<uint32_t>(rng_()));
    url_ = split_url(opts_.url);
    if (url_.tls) {
      error_code ec;
      if (opts_.ca_file.empty())
        tls_ctx_.set_default_verify_paths(ec);
      else
        tls_ctx_.load_verify_file(opts_.ca_file, ec);
      if (ec) url_.error = "TLS trust store: " + ec.message();
      tls_ctx_.set_verify_mode(opts_.verify_peer ? asio::ssl::verify_peer
                                                 : asio::ssl::verify_none);
    }
    if (!opts_.token.empty() && opts_.token_via != token_transport::header)
      add_query(url_.target, "token", opts_.token);
    // Without a token the server keys idempotency on client_id; without
    // one either, a retry after a reconnect would run a command twice.
    if (opts_.client_id.empty() && opts_.token.empty())
      opts_.client_id = "ws-client-" + opts_.id_prefix;
    if (!opts_.client_id.empty())
      add_query(url_.target, "client_id", opts_.client_id);
  }

  // Callbacks (written before start(), read on the strand).
  state_handler on_state_;
  message_handler on_message_;
  raw_handler on_raw_;
  raw_handler on_sent_;
  status_handler on_status_;

  strand_type& strand() { return strand_; }

  // -- life cycle (on the strand) ------------------------------------------

  void start() {
    if (started_ || closed_) return;
    started_ = true;
    if (!url_.error.empty()) {
      finish(url_.error);
      return;
    }
    set_state(connection_state::connecting);
    connect();
  }

  /// Final close: every unresolved command is cancelled.
  void close(const std::string& why = "client closed") {
    if (closed_) return;
    closed_ = true;
    ++gen_;
    retry_timer_.cancel();
    stable_timer_.cancel();
    heartbeat_timer_.cancel();
    resolver_.cancel();
    if (has_stream() && open_) {
      with_ws([](auto ws) {
        ws->async_close(websocket::close_code::normal,
                        [ws](error_code) { /* keeps the stream alive */ });
      });
    } else {
      close_socket();
    }
    open_ = false;
    writes_.clear();
    for (auto& [seq, cmd] : commands_) {
      (void)seq;
      auto done = std::move(cmd.done);
      command_result r;
      r.status
        = started_ ? command_status::cancelled : command_status::rejected;
      r.command_id = cmd.id;
      r.message = why;
      r.sent = cmd.sent;
      if (done) done(std::move(r));
    }
    commands_.clear();
    by_id_.clear();
    auto barriers = std::move(barriers_);
    barriers_.clear();
    for (auto& [id, done] : barriers) {
      (void)id;
      done(false);
    }
    queued_count_ = 0;
    queued_bytes_ = 0;
    set_state(connection_state::closed);
  }

  void drop_connection() {
    if (closed_) return;
    close_socket();
  }

  bool has_stream() const { return plain_ || tls_; }

  /// Calls f with the shared_ptr of the current stream (plain or TLS).
  template<class F>
  void with_ws(F&& f) {
    if (tls_)
      f(tls_);
    else if (plain_)
      f(plain_);
  }

  void close_socket() {
    with_ws([](auto ws) {
      error_code ignored;
      beast::get_lowest_layer(*ws).socket().close(ignored);
    });
  }

  // -- commands --------------------------------------------------------------

  struct command_entry {
    std::string id;
    std::string telescope;
    protocol::control_command cmd;
    clock_type::time_point deadline;
    command_handler done;
    progress_handler progress;
    std::unique_ptr<asio::steady_timer> timer;
    size_t bytes = 0;
    bool sent = false;
  };

  /// A fresh message id; any thread (the prefix never changes after
  /// construction and the counter is atomic).
  std::string next_id(char kind) {
    return opts_.id_prefix + '-' + kind + std::to_string(++ids_);
  }

  void add_command(std::string id, std::string telescope,
                   const std::string& action, const std::string& params,
                   milliseconds timeout, command_handler done,
                   progress_handler progress) {
    auto reject = [&](std::string why) {
      command_result r;
      r.command_id = id;
      r.message = std::move(why);
      if (done) done(std::move(r));
    };
    if (closed_) return reject("client closed");
    auto act = protocol::action_from_string(action);
    if (!act) return reject("unknown action \"" + action + "\"");
    auto compact = compact_object(params);
    if (!compact) return reject("parameters are not a JSON object");
    if (timeout <= milliseconds::zero()) timeout = opts_.default_timeout;
    command_entry e;
    e.id = std::move(id);
    e.telescope = std::move(telescope);
    e.cmd.action = *act;
    e.cmd.parameters = std::move(*compact);
    e.deadline = clock_type::now() + timeout;
    e.done = std::move(done);
    e.progress = std::move(progress);
    e.bytes = e.id.size() + e.telescope.size() + e.cmd.parameters.size() + 96;
    if (!open_) {
      // Offline: the bounded queue.
      bool full = queued_count_ + 1 > opts_.queue_max_count
                  || queued_bytes_ + e.bytes > opts_.queue_max_bytes;
      while (full && opts_.when_full == queue_policy::drop_oldest
             && queued_count_ > 0) {
        drop_oldest_queued();
        full = queued_count_ + 1 > opts_.queue_max_count
               || queued_bytes_ + e.bytes > opts_.queue_max_bytes;
      }
      if (full) {
        done = std::move(e.done);
        id = e.id;
        return reject("offline queue full");
      }
    }
    // Every unsent command counts until it is written (send_entry).
    ++queued_count_;
    queued_bytes_ += e.bytes;
    auto seq = ++command_seq_;
    e.timer = std::make_unique<asio::steady_timer>(strand_, e.deadline);
    e.timer->async_wait([self = shared_from_this(), seq](error_code ec) {
      if (!ec) self->expire(seq);
    });
    by_id_[e.id] = seq;
    auto& ref = commands_.emplace(seq, std::move(e)).first->second;
    if (open_) send_entry(ref);
  }

  void drop_oldest_queued() {
    for (auto& [seq, e] : commands_) {
      if (!e.sent) {
        resolve(seq, command_status::rejected,
                "dropped from the full offline queue");
        return;
      }
    }
  }

  void expire(uint64_t seq) {
    auto i = commands_.find(seq);
    if (i == commands_.end()) return;
    resolve(seq, command_status::timeout,
            i->second.sent
              ? "no response before the deadline"
              : "deadline passed in the offline queue; never sent");
  }

  /// Ends a command exactly once: removes it, then runs its handler.
  void resolve(uint64_t seq, command_status st, std::string why,
               std::optional<protocol::command_response> resp = {}) {
    auto i = commands_.find(seq);
    if (i == commands_.end()) return;
    auto e = std::move(i->second);
    commands_.erase(i);
    by_id_.erase(e.id);
    if (!e.sent) {
      --queued_count_;
      queued_bytes_ -= e.bytes;
    }
    if (e.timer) e.timer->cancel();
    command_result r;
    r.status = st;
    r.command_id = e.id;
    r.message = std::move(why);
    r.response = std::move(resp);
    r.sent = e.sent;
    if (e.done) e.done(std::move(r));
  }

  void send_entry(command_entry& e) {
    auto left = std::chrono::duration_cast<milliseconds>(e.deadline
                                                         - clock_type::now());
    if (left <= milliseconds::zero())
      return; // its timer is about to fail it: never send a stale command
    protocol::client_message m;
    m.env.id = e.id;
    if (!e.telescope.empty()) m.env.telescope_id = e.telescope;
    e.cmd.timeout_ms
      = std::min<int64_t>(left.count(), protocol::max_timeout_ms);
    m.payload = e.cmd;
    if (!e.sent) {
      e.sent = true;
      --queued_count_;
      queued_bytes_ -= e.bytes;
    }
    write(protocol::serialize(m));
  }

  void cancel(const std::string& id) {
    auto i = by_id_.find(id);
    if (i == by_id_.end()) return;
    auto seq = i->second;
    auto& e = commands_.at(seq);
    if (e.sent && open_) {
      protocol::client_message m;
      m.env.id = next_id('x');
      if (!e.telescope.empty()) m.env.telescope_id = e.telescope;
      protocol::control_command c;
      c.action = protocol::action::cancel;
      rapidjson::Document d;
      d.SetObject();
      rapidjson::Value v;
      v.SetString(id.c_str(), static_cast<rapidjson::SizeType>(id.size()),
                  d.GetAllocator());
      d.AddMember("command_id", v, d.GetAllocator());
      c.parameters = protocol::to_json(d);
      m.payload = c;
      write(protocol::serialize(m));
    }
    resolve(seq, command_status::cancelled, "cancelled by the caller");
  }

  // -- barriers --------------------------------------------------------------

  void add_barrier(std::function<void(bool)> done) {
    if (closed_) return done(false);
    auto id = next_id('b');
    barriers_[id] = std::move(done);
    if (open_) send_barrier(id);
  }

  /// A no-op the server acknowledges: unsubscribing a pattern that was
  /// never subscribed.
  void send_barrier(const std::string& id) {
    protocol::client_message m;
    m.env.id = id;
    protocol::unsubscribe u;
    u.telescope_pattern = "scopehub-client.barrier";
    m.payload = u;
    write(protocol::serialize(m));
  }

  // -- subscriptions
  // -----------------------------------------------------------

  void subscribe(std::string telescope, std::vector<std::string> names) {
    if (closed_) return;
    std::vector<protocol::subscription_type> types;
    for (auto& n : names)
      if (auto t = protocol::subscription_type_from_string(n))
        types.push_back(*t);
    if (types.empty()) types.push_back(protocol::subscription_type::all);
    auto& s = subs_[telescope];
    for (auto t : types)
      if (std::find(s.begin(), s.end(), t) == s.end()) s.push_back(t);
    if (open_) send_subscribe(telescope, types);
  }

  void unsubscribe(std::string telescope) {
    auto i = subs_.find(telescope);
    if (i == subs_.end()) return;
    auto types = i->second;
    subs_.erase(i);
    if (!open_) return;
    protocol::client_message m;
    m.env.id = next_id('u');
    if (!telescope.empty()) m.env.telescope_id = telescope;
    protocol::unsubscribe u;
    u.types = types;
    m.payload = u;
    write(protocol::serialize(m));
  }

  /// Asks the server for a full snapshot of one topic.
  void resync(const std::string& telescope, protocol::category c) {
    auto type = protocol::subscription_type_from_string(protocol::to_string(c));
    if (!type) return;
    protocol::client_message m;
    m.env.id = next_id('u');
    m.env.telescope_id = telescope;
    protocol::unsubscribe u;
    u.types = {*type};
    m.payload = u;
    write(protocol::serialize(m));
    protocol::client_message again;
    again.env.id = next_id('s');
    again.env.telescope_id = telescope;
    protocol::subscribe sub;
    sub.types = {*type};
    again.payload = sub;
    write(protocol::serialize(again));
  }

  void send_subscribe(const std::string& telescope,
                      const std::vector<protocol::subscription_type>& types) {
    protocol::client_message m;
    m.env.id = next_id('s');
    protocol::subscribe s;
    s.types = types;
    if (!telescope.empty()) {
      m.env.telescope_id = telescope;
      // Resume each category we have seen (a per-telescope subscription
      // only: resume_from names one seq per category).
      for (auto c : protocol::categories_of(types)) {
        auto t = topics_.find({telescope, c});
        if (t != topics_.end() && t->second.have)
          s.resume_from[c] = t->second.seq;
      }
    }
    m.payload = s;
    write(protocol::serialize(m));
  }

  // -- model -----------------------------------------------------------------

  struct topic_state {
    std::string epoch;
    uint64_t seq = 0;
    bool have = false;
    /// A delta of a new epoch came (the server restarted): deltas are
    /// dropped until the full snapshot asked for arrives.
    bool resyncing = false;
    rapidjson::Document merged;
  };

  std::string status_json(const std::string& telescope,
                          protocol::category c) const {
    auto t = topics_.find({telescope, c});
    if (t == topics_.end() || !t->second.merged.IsObject()) return "{}";
    return protocol::to_json(t->second.merged);
  }

  std::vector<protocol::telescope_info> telescopes() const {
    std::vector<protocol::telescope_info> out;
    for (auto& [id, info] : fleet_) {
      (void)id;
      out.push_back(info);
    }
    return out;
  }

  connection_state current_state() const { return state_; }
  size_t queued() const { return queued_count_; }
  std::vector<milliseconds> delays() const { return delays_; }

 private:
  // -- connecting ------------------------------------------------------------

  void set_state(connection_state s) {
    if (reported_ == s)
      return; // e.g. reconnecting after a failed reconnect attempt
    reported_ = s;
    state_ = s;
    if (on_state_) on_state_(s);
  }

  void connect() {
    auto g = ++gen_;
    plain_.reset();
    tls_.reset();
    if (url_.tls)
      tls_ = std::make_shared<tls_stream>(strand_, tls_ctx_);
    else
      plain_ = std::make_shared<plain_stream>(strand_);
    with_ws([this](auto ws) {
      ws->read_message_max(opts_.max_message_size);
      beast::get_lowest_layer(*ws).expires_after(opts_.connect_timeout);
    });
    resolver_.async_resolve(
      url_.host, url_.port,
      [self = shared_from_this(), g](error_code ec,
                                     tcp::resolver::results_type res) {
        if (g != self->gen_) return;
        if (ec) return self->lost(g);
        self->with_ws([&](auto ws) {
          beast::get_lowest_layer(*ws).async_connect(
            res, [self, g, ws](error_code ec, tcp::resolver::endpoint_type) {
              if (g != self->gen_) return;
              if (ec) return self->lost(g);
              self->do_tls(g);
            });
        });
      });
  }

  /// TLS handshake (wss://) with SNI and host name verification.
  void do_tls(uint64_t g) {
    if (!tls_) return do_handshake(g);
    auto& ssl = tls_->next_layer();
    if (!SSL_set_tlsext_host_name(ssl.native_handle(), url_.host.c_str()))
      return lost(g);
    if (opts_.verify_peer)
      ssl.set_verify_callback(asio::ssl::host_name_verification(url_.host));
    ssl.async_handshake(
      asio::ssl::stream_base::client,
      [self = shared_from_this(), g, ws = tls_](error_code ec) {
        if (g != self->gen_) return;
        if (ec) return self->lost(g);
        self->do_handshake(g);
      });
  }

  void do_handshake(uint64_t g) {
    with_ws([this, g](auto ws) { do_handshake(g, ws); });
  }

  template<class Ptr>
  void do_handshake(uint64_t g, Ptr ws) {
    ws->set_option(websocket::stream_base::decorator(
      [token = opts_.token, header = opts_.token_via != token_transport::query](
        websocket::request_type& req) {
        req.set(http::field::user_agent, "scopehub-ws-client");
        if (!token.empty() && header)
          req.set(http::field::authorization, "Bearer " + token);
      }));
    auto host = url_.host + ':' + url_.port;
    ws->async_handshake(host, url_.target,
                        [self = shared_from_this(), g, ws](error_code ec) {
                          if (g != self->gen_) return;
                          if (ec) return self->lost(g);
                          self->on_open(g);
                        });
  }

  void on_open(uint64_t g) {
    with_ws([this](auto ws) {
      beast::get_lowest_layer(*ws).expires_never();
      websocket::stream_base::timeout t;
      t.handshake_timeout = opts_.connect_timeout;
      t.idle_timeout = idle_limit;
      t.keep_alive_pings = true;
      ws->set_option(t);
    });
    open_ = true;
    opened_at_ = clock_type::now();
    set_state(connection_state::open);
    stable_timer_.expires_after(opts_.stable_after);
    stable_timer_.async_wait([self = shared_from_this(), g](error_code ec) {
      if (!ec && g == self->gen_ && self->open_) self->attempt_ = 0;
    });
    arm_heartbeat(g);
    do_read(g);
    // Subscriptions first (their snapshots), then the commands in the
    // order they were issued, each with the time it has left.
    for (auto& [tel, types] : subs_)
      send_subscribe(tel, types);
    for (auto& [seq, e] : commands_) {
      (void)seq;
      send_entry(e);
    }
    for (auto& [id, done] : barriers_) {
      (void)done;
      send_barrier(id);
    }
  }

  void arm_heartbeat(uint64_t g) {
    if (opts_.heartbeat_interval <= milliseconds::zero()) return;
    heartbeat_timer_.expires_after(opts_.heartbeat_interval);
    heartbeat_timer_.async_wait([self = shared_from_this(), g](error_code ec) {
      if (ec || g != self->gen_ || !self->open_) return;
      protocol::client_message m;
      m.env.id = self->next_id('h');
      m.payload = protocol::client_heartbeat{};
      self->write(protocol::serialize(m));
      self->arm_heartbeat(g);
    });
  }

  /// The connection (or the attempt) of generation `g` failed. Counts one
  /// failure and schedules the next attempt, or gives up.
  void lost(uint64_t g) {
    if (g != gen_ || closed_) return;
    ++gen_; // every other handler of this connection is now stale
    close_socket();
    open_ = false;
    writes_.clear();
    stable_timer_.cancel();
    heartbeat_timer_.cancel();
    // Commands already sent stay pending: they go out again (same id)
    // after the reconnect, unless their deadline passes first.
    ++attempt_;
    if (opts_.max_attempts != 0 && attempt_ >= opts_.max_attempts) {
      finish("gave up after " + std::to_string(attempt_) + " failed attempts");
      return;
    }
    set_state(connection_state::reconnecting);
    auto delay = backoff_delay(attempt_ - 1, opts_.backoff_base,
                               opts_.backoff_cap, rng_, opts_.jitter);
    delays_.push_back(delay);
    auto wait_gen = gen_;
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait(
      [self = shared_from_this(), wait_gen](error_code ec) {
        if (ec || wait_gen != self->gen_ || self->closed_) return;
        self->connect();
      });
  }

  void finish(const std::string& why) {
    started_ = true;
    close(why);
  }

  // -- reading ---------------------------------------------------------------

  void do_read(uint64_t g) {
    with_ws([this, g](auto ws) {
      ws->async_read(buf_,
                     [self = shared_from_this(), g, ws](error_code ec, size_t) {
                       if (g != self->gen_) return;
                       if (ec) return self->lost(g);
                       auto text = beast::buffers_to_string(self->buf_.data());
                       self->buf_.consume(self->buf_.size());
                       self->on_frame(text);
                       if (g == self->gen_) self->do_read(g);
                     });
    });
  }

  void on_frame(const std::string& text) {
    if (on_raw_) on_raw_(text);
    auto parsed = protocol::parse_server_message(text);
    if (!parsed) return; // a newer server's frame we cannot read: ignore it
    auto& msg = parsed.value();
    std::visit([&](auto& p) { handle(msg.env, p); }, msg.payload);
    if (on_message_) on_message_(msg);
  }

  void handle(const protocol::envelope&, protocol::command_response& x) {
    if (auto b = barriers_.find(x.command_id); b != barriers_.end()) {
      auto done = std::move(b->second);
      barriers_.erase(b);
      done(true);
      return;
    }
    auto i = by_id_.find(x.command_id);
    if (i == by_id_.end())
      return; // answered already (timeout, cancel) or not ours
    auto st = x.success ? command_status::ok : command_status::failed;
    auto why = x.error.value_or("");
    resolve(i->second, st, std::move(why), x);
  }

  void handle(const protocol::envelope&, protocol::command_progress& x) {
    auto i = by_id_.find(x.command_id);
    if (i == by_id_.end()) return;
    auto& e = commands_.at(i->second);
    if (e.progress) e.progress(x);
  }

  void handle(const protocol::envelope& env, protocol::status_update& x) {
    if (!env.telescope_id) return;
    auto& t = topics_[{*env.telescope_id, x.category}];
    bool same_epoch = t.have && t.epoch == x.epoch;
    if (same_epoch && x.seq <= t.seq)
      return; // already seen (a replay overlapping what we had)
    if (!x.full_update && t.have && !same_epoch) {
      // Numbering restarted (server restart) and our resume_from meant
      // nothing to the new run: deltas cannot be trusted until a full
      // snapshot, so ask for one (unsubscribe + subscribe, no resume).
      if (!t.resyncing && subs_.count(*env.telescope_id) != 0) {
        t.resyncing = true;
        resync(*env.telescope_id, x.category);
      }
      if (t.resyncing) return;
    }
    if (t.resyncing && !x.full_update) return;
    t.resyncing = false;
    rapidjson::Document delta;
    delta.Parse(x.status.c_str());
    if (delta.HasParseError() || !delta.IsObject()) return;
    if (x.full_update || !t.merged.IsObject()) t.merged.SetObject();
    protocol::merge(t.merged, delta);
    t.have = true;
    t.epoch = x.epoch;
    t.seq = x.seq;
    if (on_status_)
      on_status_(
        status_event{*env.telescope_id, x, protocol::to_json(t.merged)});
  }

  void handle(const protocol::envelope&, protocol::telescope_discovered& x) {
    fleet_[x.telescope.id] = x.telescope;
  }

  void handle(const protocol::envelope& env, protocol::telescope_lost&) {
    if (env.telescope_id)
      if (auto i = fleet_.find(*env.telescope_id); i != fleet_.end())
        i->second.state = "lost";
  }

  /// A command the server refused as a frame (INVALID_PARAMETERS,
  /// UNKNOWN_ACTION, RATE_LIMITED...) gets an `error` naming it in ref_id
  /// instead of a command_response: it ends the command the same way.
  void handle(const protocol::envelope&, protocol::error_message& x) {
    if (!x.ref_id) return;
    auto i = by_id_.find(*x.ref_id);
    if (i == by_id_.end()) return;
    protocol::command_response resp;
    resp.command_id = *x.ref_id;
    resp.success = false;
    resp.error = x.message;
    resp.code = x.code;
    resolve(i->second, command_status::failed, x.message, std::move(resp));
  }

  template<class T>
  void handle(const protocol::envelope&, T&) {
    // heartbeat: nothing to track; on_message sees it.
  }

  // -- writing (one write in flight) ------------------------------------------

  void write(std::string frame) {
    if (!open_) return;
    if (on_sent_) on_sent_(frame);
    writes_.push_back(std::move(frame));
    if (writes_.size() == 1) do_write(gen_);
  }

  void do_write(uint64_t g) {
    with_ws([this, g](auto ws) {
      ws->text(true);
      ws->async_write(
        asio::buffer(writes_.front()),
        [self = shared_from_this(), g, ws](error_code ec, size_t) {
          if (g != self->gen_) return;
          if (ec) return self->lost(g);
          self->writes_.pop_front();
          if (!self->writes_.empty()) self->do_write(g);
        });
    });
  }

  strand_type strand_;
  ws_client_options opts_;
  std::atomic<uint64_t> ids_{0};
  url_parts url_;
  tcp::resolver resolver_;
  asio::steady_timer retry_timer_;
  asio::steady_timer stable_timer_;
  asio::steady_timer heartbeat_timer_;
  asio::ssl::context tls_ctx_;
  std::minstd_rand rng_;
  std::shared_ptr<plain_stream> plain_; // ws://
  std::shared_ptr<tls_stream> tls_;     // wss://
  beast::flat_buffer buf_;
  std::deque<std::string> writes_;
  uint64_t gen_ = 0;
  unsigned attempt_ = 0;
  bool started_ = false;
  bool closed_ = false;
  bool open_ = false;
  std::optional<connection_state> reported_;
  connection_state state_ = connection_state::connecting;
  clock_type::time_point opened_at_;
  std::vector<milliseconds> delays_;
  uint64_t command_seq_ = 0;
  std::map<uint64_t, command_entry> commands_; // in issue order
  std::map<std::string, uint64_t> by_id_;
  std::map<std::string, std::function<void(bool)>> barriers_;
  size_t queued_count_ = 0;
  size_t queued_bytes_ = 0;
  std::map<std::string, std::vector<protocol::subscription_type>> subs_;
  std::map<std::pair<std::string, protocol::category>, topic_state> topics_;
  std::map<std::string, protocol::telescope_info> fleet_;
};

// -- ws_client
// -----------------------------------------------------------------

namespace {

template<class T, class F>
std::future<T> ask(const std::shared_ptr<ws_client::impl>& p, F f) {
  auto prom = std::make_shared<std::promise<T>>();
  auto fut = prom->get_future();
  asio::post(p->strand(),
             [p, prom, f = std::move(f)] { prom->set_value(f(*p)); });
  return fut;
}

} // namespace

ws_client::ws_client(asio::io_context& ioc, ws_client_options opts)
  : impl_(std::make_shared<impl>(ioc, std::move(opts))) {}

ws_client::~ws_client() {
  auto p = impl_;
  asio::post(p->strand(), [p] {
    p->on_state_ = nullptr;
    p->on_message_ = nullptr;
    p->on_raw_ = nullptr;
    p->on_sent_ = nullptr;
    p->on_status_ = nullptr;
    p->close();
  });
}

void ws_client::on_state(state_handler f) { impl_->on_state_ = std::move(f); }

void ws_client::on_message(message_handler f) {
  impl_->on_message_ = std::move(f);
}

void ws_client::on_raw(raw_handler f) { impl_->on_raw_ = std::move(f); }

void ws_client::on_sent(raw_handler f) { impl_->on_sent_ = std::move(f); }

void ws_client::on_status(status_handler f) {
  impl_->on_status_ = std::move(f);
}

void ws_client::start() {
  asio::post(impl_->strand(), [p = impl_] { p->start(); });
}

void ws_client::close() {
  asio::post(impl_->strand(), [p = impl_] { p->close(); });
}

void ws_client::drop_connection() {
  asio::post(impl_->strand(), [p = impl_] { p->drop_connection(); });
}

std::string ws_client::send_command(std::string telescope, std::string action,
                                    std::string params_json,
                                    std::chrono::milliseconds timeout,
                                    command_handler done,
                                    progress_handler progress) {
  // The id is made here, so the caller can cancel at once.
  auto id = impl_->next_id('c');
  asio::post(impl_->strand(),
             [p = impl_, id, telescope = std::move(telescope),
              action = std::move(action), params = std::move(params_json),
              timeout, done = std::move(done),
              progress = std::move(progress)]() mutable {
               p->add_command(id, std::move(telescope), action, params, timeout,
                              std::move(done), std::move(progress));
             });
  return id;
}

pending_command ws_client::send_command(std::string telescope,
                                        std::string action,
                                        std::string params_json,
                                        std::chrono::milliseconds timeout,
                                        progress_handler progress) {
  auto prom = std::make_shared<std::promise<command_result>>();
  pending_command out;
  out.result = prom->get_future();
  out.id = send_command(
    std::move(telescope), std::move(action), std::move(params_json), timeout,
    [prom](command_result r) { prom->set_value(std::move(r)); },
    std::move(progress));
  return out;
}

void ws_client::cancel(const std::string& command_id) {
  asio::post(impl_->strand(),
             [p = impl_, command_id] { p->cancel(command_id); });
}

std::future<bool> ws_client::round_trip() {
  auto prom = std::make_shared<std::promise<bool>>();
  auto fut = prom->get_future();
  asio::post(impl_->strand(), [p = impl_, prom] {
    p->add_barrier([prom](bool ok) { prom->set_value(ok); });
  });
  return fut;
}

void ws_client::subscribe(std::string telescope,
                          std::vector<std::string> categories) {
  asio::post(impl_->strand(), [p = impl_, t = std::move(telescope),
                               c = std::move(categories)]() mutable {
    p->subscribe(std::move(t), std::move(c));
  });
}

void ws_client::unsubscribe(std::string telescope) {
  asio::post(impl_->strand(), [p = impl_, t = std::move(telescope)]() mutable {
    p->unsubscribe(std::move(t));
  });
}

std::future<connection_state> ws_client::state() {
  return ask<connection_state>(impl_,
                               [](impl& x) { return x.current_state(); });
}

std::future<std::string> ws_client::status(std::string telescope,
                                           protocol::category cat) {
  return ask<std::string>(impl_, [t = std::move(telescope), cat](impl& x) {
    return x.status_json(t, cat);
  });
}

std::future<std::vector<protocol::telescope_info>> ws_client::telescopes() {
  return ask<std::vector<protocol::telescope_info>>(
    impl_, [](impl& x) { return x.telescopes(); });
}

std::future<size_t> ws_client::queued() {
  return ask<size_t>(impl_, [](impl& x) { return x.queued(); });
}

std::future<std::vector<std::chrono::milliseconds>>
ws_client::reconnect_delays() {
  return ask<std::vector<milliseconds>>(impl_,
                                        [](impl& x) { return x.delays(); });
}

} // namespace scopehub::net
