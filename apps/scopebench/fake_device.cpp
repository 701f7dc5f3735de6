#include "apps/scopebench/fake_device.hpp"

#include <array>
#include <string>
#include <string_view>

#include <boost/asio/write.hpp>
#include <rapidjson/document.h>

namespace scopebench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

/// The `result` JSON of each method scopehub calls; anything unknown
/// (including set_control_value) gets 0.
std::string_view result_of(std::string_view method) {
  if (method == "get_device_state")
    return R"({"device":{"name":"scopebench","firmware_ver_string":"bench",)"
           R"("product_model":"Seestar S50"},)"
           R"("pi_status":{"battery_capacity":80,"charger_status":"Discharging",)"
           R"("temp":0},"storage":{"storage_volume":[{"name":"emmc",)"
           R"("freeMB":50000}]},"mount":{"tracking":false,"close":false},)"
           R"("focuser":{"step":1200,"max_step":2600}})";
  if (method == "get_view_state") return R"({"View":{"state":"cancel"}})";
  if (method == "get_focuser_position") return "1200";
  if (method == "scope_get_equ_coord") return R"({"ra":5.5,"dec":22.0})";
  if (method == "scope_get_horiz_coord") return "[45.0,180.0]";
  if (method == "test_connection") return R"("server connected!")";
  return "0";
}

} // namespace

/// One connection from scopehub: a line reader and a coalescing writer
/// (everything queued while a write is in flight goes out in the next one).
class device_conn : public std::enable_shared_from_this<device_conn> {
 public:
  device_conn(tcp::socket sock, fake_device& dev)
    : sock_(std::move(sock)), dev_(dev) {
    error_code ec;
    sock_.set_option(tcp::no_delay{true}, ec);
  }

  void start() { do_read(); }

  void send(std::string_view text) {
    pending_.append(text.data(), text.size());
    if (!writing_) do_write();
  }

  void close() {
    error_code ec;
    sock_.close(ec);
  }

 private:
  void do_read() {
    sock_.async_read_some(asio::buffer(rbuf_),
                          [self = shared_from_this()](error_code ec, size_t n) {
                            if (ec) return;
                            self->on_data(n);
                            self->do_read();
                          });
  }

  void on_data(size_t n) {
    line_.append(rbuf_.data(), n);
    size_t start = 0;
    for (;;) {
      auto end = line_.find('\n', start);
      if (end == std::string::npos) break;
      auto len = end - start;
      if (len > 0 && line_[start + len - 1] == '\r') --len;
      if (len > 0) on_line(std::string_view{line_}.substr(start, len));
      start = end + 1;
    }
    line_.erase(0, start);
  }

  void on_line(std::string_view line) {
    rapidjson::Document doc;
    doc.Parse(line.data(), line.size());
    if (doc.HasParseError() || !doc.IsObject()) return;
    auto id = doc.FindMember("id");
    auto method = doc.FindMember("method");
    if (id == doc.MemberEnd() || !id->value.IsInt64()
        || method == doc.MemberEnd() || !method->value.IsString())
      return;
    std::string_view m{method->value.GetString(),
                       method->value.GetStringLength()};
    dev_.count_request(m == "set_control_value");
    std::string reply = R"({"jsonrpc":"2.0","Timestamp":"0","method":")";
    reply.append(m.data(), m.size());
    reply += R"(","result":)";
    reply += result_of(m);
    reply += R"(,"code":0,"id":)";
    reply += std::to_string(id->value.GetInt64());
    reply += "}\r\n";
    send(reply);
  }

  void do_write() {
    writing_ = true;
    inflight_.swap(pending_);
    pending_.clear();
    asio::async_write(sock_, asio::buffer(inflight_),
                      [self = shared_from_this()](error_code ec, size_t) {
                        self->writing_ = false;
                        if (ec) return self->close();
                        if (!self->pending_.empty()) self->do_write();
                      });
  }

  tcp::socket sock_;
  fake_device& dev_;
  std::array<char, 16 * 1024> rbuf_;
  std::string line_;
  std::string pending_;
  std::string inflight_;
  bool writing_ = false;
};

fake_device::fake_device(asio::io_context& ioc) : acceptor_(ioc) {
  // nop
}

fake_device::~fake_device() { stop(); }

uint16_t fake_device::start() {
  tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), 0};
  acceptor_.open(ep.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen();
  do_accept();
  return acceptor_.local_endpoint().port();
}

void fake_device::stop() {
  error_code ec;
  acceptor_.close(ec);
  for (auto& w : conns_)
    if (auto c = w.lock()) c->close();
  conns_.clear();
}

void fake_device::do_accept() {
  acceptor_.async_accept([this](error_code ec, tcp::socket sock) {
    if (ec) return; // closed
    auto conn = std::make_shared<device_conn>(std::move(sock), *this);
    conn->start();
    conns_.push_back(conn);
    do_accept();
  });
}

void fake_device::emit(uint64_t seq) {
  if (emit_times_.size() <= seq) emit_times_.resize(seq + 1);
  std::string line = R"({"Event":"PiStatus","Timestamp":"0","temp":)";
  line += std::to_string(seq);
  line += ",\"battery_capacity\":80}\r\n";
  emit_times_[seq] = bench_clock::now();
  for (auto& w : conns_)
    if (auto c = w.lock()) c->send(line);
}

size_t fake_device::connections() const {
  size_t n = 0;
  for (auto& w : conns_)
    if (!w.expired()) ++n;
  return n;
}

} // namespace scopebench
