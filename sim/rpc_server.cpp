#include "sim/rpc_server.hpp"

#include <algorithm>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/socket_base.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include "protocol/json_read.hpp"
#include "sim/json.hpp"

namespace scopehub::sim {

namespace asio = boost::asio;

namespace {

/// A short printable sample of untrusted bytes for a log line.
std::string sample(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 60))
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 60) out += "...";
  return out;
}

shared_line make_line(std::string text) {
  text += "\r\n";
  return std::make_shared<const std::string>(std::move(text));
}

/// A fault spec from sim_set_faults params: {"spec": "..."}, a bare
/// string, or an object of fault -> value.
std::string spec_of(const rapidjson::Value& p) {
  if (p.IsString()) return p.GetString();
  if (!p.IsObject()) return "?";
  if (auto it = p.FindMember("spec");
      it != p.MemberEnd() && it->value.IsString())
    return it->value.GetString();
  std::string spec;
  for (auto& m : p.GetObject()) {
    if (!spec.empty()) spec += ',';
    spec += m.name.GetString();
    spec += '=';
    if (m.value.IsString())
      spec += m.value.GetString();
    else if (m.value.IsBool())
      spec += m.value.GetBool() ? "1" : "0";
    else
      spec += to_json_text(m.value);
  }
  return spec;
}

} // namespace

rpc_server::rpc_server(asio::io_context& io, rpc_config cfg, device_config dev,
                       fault_plan faults)
  : io_(io), cfg_(std::move(cfg)), model_(std::move(dev)),
    faults_(std::move(faults)), acceptor_(io), tick_(io), accept_retry_(io),
    start_(std::chrono::steady_clock::now()), rng_(cfg_.seed) {
  if (!(cfg_.time_scale > 0)) cfg_.time_scale = 1.0;
}

void rpc_server::start() {
  tcp::endpoint ep{asio::ip::make_address(cfg_.bind), cfg_.port};
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address{true});
  acceptor_.bind(ep);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
  spdlog::info("[{}] JSON-RPC on {}:{} (time scale {}, faults: {})", name(),
               cfg_.bind, port_, cfg_.time_scale, faults_.to_string());
  do_accept();
  reschedule();
}

void rpc_server::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  tick_.cancel();
  accept_retry_.cancel();
  for (auto& w : conns_)
    if (auto c = w.lock()) c->close("simulator stopped");
  conns_.clear();
  spdlog::info("[{}] stopped", name());
}

size_t rpc_server::client_count() const {
  return static_cast<size_t>(
    std::count_if(conns_.begin(), conns_.end(), [](auto& w) {
      auto c = w.lock();
      return c && c->is_open();
    }));
}

void rpc_server::set_faults(fault_plan plan) {
  if (plan != faults_)
    spdlog::info("[{}] fault plan: {}", name(), plan.to_string());
  faults_ = std::move(plan);
  for (auto& w : conns_)
    if (auto c = w.lock()) c->set_stalled(faults_.stall);
}

double rpc_server::device_now() const {
  std::chrono::duration<double> d = std::chrono::steady_clock::now() - start_;
  return d.count() * cfg_.time_scale;
}

bool rpc_server::roll(double probability) {
  if (probability <= 0) return false;
  std::uniform_real_distribution<double> u{0.0, 1.0};
  return u(rng_) < probability;
}

// -- accepting ----------------------------------------------------------------

void rpc_server::do_accept() {
  acceptor_.async_accept(
    [w = weak_from_this()](const boost::system::error_code& ec,
                           tcp::socket sock) {
      if (auto self = w.lock()) self->on_accept(ec, std::move(sock));
    });
}

void rpc_server::on_accept(const boost::system::error_code& ec,
                           tcp::socket sock) {
  if (stopped_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    // E.g. EMFILE: keep accepting after a short pause.
    spdlog::warn("[{}] accept failed: {}", name(), ec.message());
    accept_retry_.expires_after(std::chrono::milliseconds(100));
    accept_retry_.async_wait([w = weak_from_this()](auto wec) {
      if (auto self = w.lock(); self && !wec) self->do_accept();
    });
    return;
  }
  auto now = std::chrono::steady_clock::now();
  if (faults_.refuse || now < rebooting_until_) {
    spdlog::info("[{}] fault/reboot: refusing a connection", name());
    boost::system::error_code ignored;
    sock.set_option(asio::socket_base::linger{true, 0}, ignored); // RST
    sock.close(ignored);
  } else {
    conns_.erase(std::remove_if(conns_.begin(), conns_.end(),
                                [](auto& w) {
                                  auto c = w.lock();
                                  return !c || !c->is_open();
                                }),
                 conns_.end());
    auto conn = std::make_shared<rpc_connection>(
      std::move(sock), weak_from_this(), next_id_++, cfg_.max_line,
      cfg_.max_queue_bytes);
    spdlog::info("[{}] client #{} connected from {}", name(), conn->id(),
                 conn->peer());
    conns_.push_back(conn);
    conn->run();
    if (faults_.stall) conn->set_stalled(true);
  }
  do_accept();
}

// -- requests -----------------------------------------------------------------

void rpc_server::on_line(const std::shared_ptr<rpc_connection>& conn,
                         std::string_view line) {
  rapidjson::Document req;
  // Depth first: RapidJSON's parser recurses once per nesting level.
  const auto* bytes = reinterpret_cast<const uint8_t*>(line.data());
  if (protocol::json_nesting_depth(bytes, line.size(), 64) <= 64)
    req.Parse(line.data(), line.size());
  if (req.HasParseError() || !req.IsObject()) {
    spdlog::warn("[{}] client #{}: ignoring a line that is not a JSON "
                 "object: {}",
                 name(), conn->id(), sample(line));
    return;
  }
  rapidjson::Value null_id;
  auto idit = req.FindMember("id");
  const auto& id = idit == req.MemberEnd() ? null_id : idit->value;
  std::string method;
  if (auto m = req.FindMember("method");
      m != req.MemberEnd() && m->value.IsString())
    method = m->value.GetString();
  rapidjson::Document params;
  if (auto p = req.FindMember("params"); p != req.MemberEnd())
    params.CopyFrom(p->value, params.GetAllocator());
  if (method.rfind("sim_", 0) == 0) return handle_sim(conn, id, method, params);
  outcome r;
  auto now = device_now();
  if (faults_.error_code != 0
      && (faults_.error_method.empty() || faults_.error_method == method)) {
    spdlog::info("[{}] fault: answering {} with code {}", name(), method,
                 faults_.error_code);
    r.code = faults_.error_code;
    r.error = protocol::seestar::device_error_text(r.code);
    return reply(conn, id, method, r, kind::reply);
  }
  if (auto code = normalize_params(params, model_.config().firmware_int)) {
    r.code = code;
    r.error = protocol::seestar::device_error_text(code);
    return reply(conn, id, method, r, kind::reply);
  }
  model_.advance(now); // events due before this request go out first
  broadcast_events();
  r = model_.handle(method, params, now);
  if (r.code != 0)
    spdlog::debug("[{}] {} -> {} {}", name(), method, r.code, r.error);
  reply(conn, id, method, r, kind::reply);
  broadcast_events();
  if (r.reboot) begin_reboot();
  reschedule();
}

void rpc_server::handle_sim(const std::shared_ptr<rpc_connection>& conn,
                            const rapidjson::Value& id, std::string_view method,
                            const rapidjson::Value& params) {
  outcome r;
  if (method == "sim_set_faults") {
    std::string err;
    auto plan = fault_plan::parse(spec_of(params), &err);
    if (!plan) {
      r.code = 109;
      r.error = "bad fault spec: " + err;
      return reply(conn, id, method, r, kind::control);
    }
    r.result.SetObject();
    r.result.AddMember("faults", plan->to_string(), r.result.GetAllocator());
    reply(conn, id, method, r, kind::control);
    set_faults(std::move(*plan));
    return;
  }
  if (method == "sim_get_faults") {
    r.result.SetObject();
    r.result.AddMember("faults", faults_.to_string(), r.result.GetAllocator());
    return reply(conn, id, method, r, kind::control);
  }
  r.code = 103;
  r.error = protocol::seestar::device_error_text(103);
  reply(conn, id, method, r, kind::control);
}

void rpc_server::reply(const std::shared_ptr<rpc_connection>& conn,
                       const rapidjson::Value& id, std::string_view method,
                       const outcome& r, kind k) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w{sb};
  w.StartObject();
  w.Key("jsonrpc");
  w.String("2.0");
  w.Key("Timestamp");
  w.String(model_.timestamp(device_now()));
  w.Key("method");
  w.String(method.data(), static_cast<rapidjson::SizeType>(method.size()));
  if (r.code == 0) {
    w.Key("result");
    if (r.result.IsNull())
      w.Int(0);
    else
      r.result.Accept(w);
  } else {
    w.Key("error");
    w.String(r.error);
  }
  w.Key("code");
  w.Int(r.code);
  w.Key("id");
  id.Accept(w);
  w.EndObject();
  auto line = make_line(std::string{sb.GetString(), sb.GetSize()});
  auto delay = static_cast<int64_t>(faults_.latency_ms);
  if (k == kind::reply && faults_.jitter_ms > 0) {
    auto j = static_cast<int64_t>(faults_.jitter_ms);
    std::uniform_int_distribution<int64_t> u{-j, j};
    delay = std::max<int64_t>(0, delay + u(rng_));
  }
  if (k != kind::reply || delay <= 0) return deliver(conn, std::move(line), k);
  auto timer = std::make_shared<asio::steady_timer>(
    io_, std::chrono::milliseconds(delay));
  timer->async_wait([timer, w = weak_from_this(),
                     wc = std::weak_ptr<rpc_connection>{conn},
                     line = std::move(line)](auto ec) mutable {
    auto self = w.lock();
    auto c = wc.lock();
    if (!ec && self && c && !self->stopped_)
      self->deliver(c, std::move(line), kind::reply);
  });
}

// -- output and faults --------------------------------------------------------

void rpc_server::deliver(const std::shared_ptr<rpc_connection>& conn,
                         shared_line line, kind k) {
  if (!conn->is_open()) return;
  if (k == kind::control) return conn->send(std::move(line));
  auto& f = faults_;
  if (k == kind::reply && roll(f.drop_replies_pct / 100.0)) {
    spdlog::info("[{}] fault: dropping a reply to client #{}", name(),
                 conn->id());
    return;
  }
  if (k == kind::event && roll(f.drop_events_pct / 100.0)) {
    spdlog::info("[{}] fault: dropping an event for client #{}", name(),
                 conn->id());
    return;
  }
  if (roll(f.disconnect_random)) {
    spdlog::warn("[{}] fault: random disconnect of client #{}", name(),
                 conn->id());
    return conn->close("random disconnect fault");
  }
  auto n = ++conn->messages;
  if ((f.garbage_every != 0 && n % f.garbage_every == 0)
      || roll(f.garbage_prob)) {
    spdlog::info("[{}] fault: garbage line to client #{}", name(), conn->id());
    conn->send(make_line("#@! garbage from the simulator {{ not json"));
  }
  if ((f.truncate_every != 0 && n % f.truncate_every == 0)
      || roll(f.truncate_prob)) {
    spdlog::info("[{}] fault: truncating a line to client #{}", name(),
                 conn->id());
    line = make_line(line->substr(0, (line->size() - 2) / 2));
  }
  conn->send(std::move(line));
  if (f.disconnect_after != 0 && n >= f.disconnect_after) {
    spdlog::warn("[{}] fault: disconnecting client #{} after {} messages",
                 name(), conn->id(), n);
    conn->close_after_flush();
  }
}

void rpc_server::broadcast_events() {
  for (auto& text : model_.take_events()) {
    auto line = make_line(std::move(text)); // serialized once for all
    for (auto& w : conns_)
      if (auto c = w.lock()) deliver(c, line, kind::event);
  }
}

// -- device time --------------------------------------------------------------

void rpc_server::reschedule() {
  if (stopped_) return;
  auto next = model_.next_due();
  double wait_s = 1.0;
  if (next)
    wait_s = std::clamp((*next - device_now()) / cfg_.time_scale, 0.0, 60.0);
  tick_.expires_after(
    std::chrono::microseconds(static_cast<int64_t>(wait_s * 1e6) + 1));
  tick_.async_wait([w = weak_from_this()](auto ec) {
    if (auto self = w.lock(); self && !ec) self->on_tick();
  });
}

void rpc_server::on_tick() {
  if (stopped_) return;
  model_.advance(device_now());
  broadcast_events();
  reschedule();
}

void rpc_server::begin_reboot() {
  auto pause = std::chrono::duration<double>(cfg_.reboot_s / cfg_.time_scale);
  rebooting_until_
    = std::chrono::steady_clock::now()
      + std::chrono::duration_cast<std::chrono::steady_clock::duration>(pause);
  spdlog::warn("[{}] pi_reboot: dropping {} clients, back in {:.1f} s", name(),
               client_count(), pause.count());
  for (auto& w : conns_)
    if (auto c = w.lock()) c->close_after_flush();
}

} // namespace scopehub::sim
