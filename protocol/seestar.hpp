#pragma once

// Codec for the ZWO Seestar JSON-RPC protocol on TCP 4700 (facts:
// ../shared/seestar-protocol.md): `\r\n` line framing, request building,
// response/event discrimination, event-to-status mapping and the device
// error-code table. Pure code: no sockets, no actors.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "protocol/errors.hpp"
#include "protocol/status.hpp"

namespace scopehub::protocol::seestar {

/// Default longest line accepted from a device (comet data can pass 50 KB).
inline constexpr size_t default_max_line = 256 * 1024;

/// Deepest JSON nesting accepted in a device line (real lines stay under
/// 10 levels). RapidJSON's parser recurses once per level: without this
/// bound a line of 256 KiB of '[' overflows the stack.
inline constexpr size_t max_line_depth = 64;

/// Splits a byte stream into `\r\n`-terminated lines. Copes with partial
/// lines and several lines per read. A bare `\n` also ends a line (and a
/// trailing `\r` is stripped). Empty lines are skipped. A line longer than
/// `max_line` is discarded up to its terminator and reported once as an
/// overflow; framing then resumes at the next line.
class line_framer {
 public:
  explicit line_framer(size_t max_line = default_max_line);

  /// Feeds `n` bytes; calls `on_line` for each complete line (terminator
  /// removed) and `on_overflow(bytes_dropped_so_far)` once per overlong
  /// line, when it is first detected.
  void feed(const uint8_t* data, size_t n,
            const std::function<void(std::string_view)>& on_line,
            const std::function<void(size_t)>& on_overflow = {});

  /// Bytes buffered of an incomplete line.
  size_t buffered() const noexcept;

  /// Drops any partial line (e.g. on reconnect).
  void reset() noexcept;

 private:
  size_t max_line_;
  std::string buf_;
  bool discarding_ = false;
};

/// Builds one request line, `{"id":<id>,"method":"<m>"[,"params":<p>]}\r\n`.
/// `params_json` is JSON text (object, array, bool, string); empty means
/// no params member.
std::string make_request(int64_t id, std::string_view method,
                         std::string_view params_json = {});

/// Hands out unique request ids per connection (starting at 10000, as
/// real clients do).
class id_generator {
 public:
  int64_t next() noexcept { return next_++; }

 private:
  int64_t next_ = 10000;
};

/// A reply to a request: echoes `id` and `method`; `code` 0 is success.
struct response {
  int64_t id = 0;
  std::string method;
  int code = 0;
  std::string error;          ///< device error text when code != 0
  rapidjson::Document result; ///< null when absent
};

/// An unsolicited event: `{"Event":"<name>","Timestamp":"...",...}`.
struct event {
  std::string name;
  rapidjson::Document body; ///< the whole object, including "Event"
};

enum class line_kind : uint8_t { response, event, invalid };

/// One parsed line. For `invalid`, `problem` says why (not JSON, not an
/// object, neither an event nor a response).
struct parsed_line {
  line_kind kind = line_kind::invalid;
  response resp;
  event ev;
  std::string problem;
};

/// Classifies one line by shape: has "Event" -> event; has "id" (and
/// "jsonrpc" or "code") -> response; else invalid (also when nested
/// deeper than max_line_depth). Never throws.
parsed_line parse_line(const uint8_t* data, size_t n);
parsed_line parse_line(std::string_view line);

/// A change to one status category derived from device data.
struct status_delta {
  category cat;
  rapidjson::Document fields; ///< JSON object: field -> new value
};

/// Maps a device event to status deltas (PiStatus -> system;
/// ScopeGoto/ScopeTrack/ScopeHome/ScopeMoveToHorizon -> position;
/// FocuserMove -> focus; View/Stack/Exposure -> imaging). Only fields the
/// event carries are set. View: mode -> view_state (solar_sys -> "sun" or
/// "moon" by target_type, planet -> "star", cancel/fail/none -> "idle");
/// Stack: "stacking" while working, "star" when it ends. Exposures of a
/// goto's plate solve (route/tag AutoGoto) are ignored. Unknown events
/// give nothing.
std::vector<status_delta> map_event(const event& ev);

/// Maps the `result` of `get_device_state` to full-state deltas for every
/// category it covers (mount -> position, focuser -> focus, pi_status and
/// device/storage -> system, setting -> imaging where it applies).
std::vector<status_delta> map_device_state(const rapidjson::Value& result);

/// Device error text for a known code ("below horizon" for 270, ...);
/// "device error <code>" otherwise.
std::string device_error_text(int code);

/// The protocol error a device code becomes: 203 -> telescope_busy,
/// 103/107/108/109 -> internal (we sent something the device rejects),
/// 270 -> invalid_parameters (target below horizon), others ->
/// device_error.
error_code to_protocol_error(int device_code) noexcept;

} // namespace scopehub::protocol::seestar
