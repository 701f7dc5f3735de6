// Fuzz target `seestar`: bytes from a Seestar (TCP 4700) through the line
// framer, the line parser and the event/state mappers
// (protocol/seestar.hpp), as net/line_link and the telescope actor use
// them.
//
// Properties: nothing crashes; the framer yields the same lines and the
// same number of overflows whether the bytes come at once or in pieces
// (chunk sizes taken from the input itself), with and without a small
// line limit; no line is empty, holds a '\n' or passes the limit; every
// line is classified, an invalid one says why, a failed response has an
// error text; every status delta is a JSON object that serializes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "protocol/seestar.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

namespace seestar = scopehub::protocol::seestar;

struct framed {
  std::vector<std::string> lines;
  size_t overflows = 0;
};

/// Frames `data` with a limit of `max_line`, all at once or in chunks of
/// 1..32 bytes whose sizes come from the data.
framed frame(const uint8_t* data, size_t size, size_t max_line, bool chunked) {
  framed out;
  seestar::line_framer f{max_line};
  auto on_line = [&](std::string_view line) {
    FUZZ_CHECK(!line.empty(), "empty line emitted");
    FUZZ_CHECK(line.size() <= max_line, "line over the limit emitted");
    FUZZ_CHECK(line.find('\n') == std::string_view::npos, "line with LF");
    out.lines.emplace_back(line);
  };
  auto on_overflow = [&](size_t dropped) {
    FUZZ_CHECK(dropped > max_line, "overflow below the limit");
    ++out.overflows;
  };
  if (!chunked) {
    f.feed(data, size, on_line, on_overflow);
  } else {
    size_t i = 0;
    while (i < size) {
      size_t n = 1 + data[i] % 32;
      if (n > size - i) n = size - i;
      f.feed(data + i, n, on_line, on_overflow);
      i += n;
    }
  }
  FUZZ_CHECK(f.buffered() <= max_line + 1, "partial line over the limit");
  f.reset();
  FUZZ_CHECK(f.buffered() == 0, "reset kept bytes");
  return out;
}

void check_delta(const seestar::status_delta& d) {
  FUZZ_CHECK(d.fields.IsObject(), "delta fields are not an object");
  FUZZ_CHECK(d.fields.MemberCount() > 0, "empty delta");
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w{sb};
  FUZZ_CHECK(d.fields.Accept(w), "delta does not serialize");
  FUZZ_CHECK(!to_string(d.cat).empty(), "delta without a category");
}

void check_line(const std::string& line) {
  auto p = seestar::parse_line(line);
  switch (p.kind) {
    case seestar::line_kind::invalid:
      FUZZ_CHECK(!p.problem.empty(), "invalid line without a reason");
      break;
    case seestar::line_kind::response:
      if (p.resp.code != 0) {
        FUZZ_CHECK(!p.resp.error.empty(), "failed response without text");
        FUZZ_CHECK(!to_string(seestar::to_protocol_error(p.resp.code)).empty(),
                   "device code without a protocol error");
      }
      for (auto& d : seestar::map_device_state(p.resp.result))
        check_delta(d);
      break;
    case seestar::line_kind::event:
      FUZZ_CHECK(p.ev.body.IsObject(), "event body is not an object");
      for (auto& d : seestar::map_event(p.ev))
        check_delta(d);
      // An event's body may also arrive as a device state (same shapes).
      for (auto& d : seestar::map_device_state(p.ev.body))
        check_delta(d);
      break;
  }
  auto bytes = seestar::parse_line(
    reinterpret_cast<const uint8_t*>(line.data()), line.size());
  FUZZ_CHECK(bytes.kind == p.kind, "the two parse_line overloads disagree");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (size_t max_line : {seestar::default_max_line, size_t{48}}) {
    auto whole = frame(data, size, max_line, false);
    auto pieces = frame(data, size, max_line, true);
    FUZZ_CHECK(whole.lines == pieces.lines, "chunking changed the lines");
    FUZZ_CHECK(whole.overflows == pieces.overflows,
               "chunking changed the overflows");
    if (max_line == seestar::default_max_line)
      for (auto& line : whole.lines)
        check_line(line);
  }
  return 0;
}
