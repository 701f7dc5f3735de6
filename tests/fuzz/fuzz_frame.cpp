// Fuzz target `frame`: a client text frame through the codec and the
// schema validator (protocol/codec.hpp, protocol/validate.hpp), as the
// session does with every frame, plus the HTTP command body and the
// server-frame parser of the client library on the same bytes.
//
// Properties: nothing crashes; a parsed message serializes to JSON that
// parses back to an equal message (codec.hpp's round-trip promise); a
// rejected frame carries a known error code and a message, and the
// `error` frame built from it is a valid server frame with the same code
// and ref_id.

#include <cstddef>
#include <cstdint>
#include <string>

#include "protocol/builders.hpp"
#include "protocol/codec.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using namespace scopehub::protocol;

/// The error frame the session would send for `err` must be readable by
/// a client with the same code, message and ref_id.
void check_error_frame(const protocol_error& err) {
  FUZZ_CHECK(!to_string(err.code).empty(), "error code without a name");
  FUZZ_CHECK(!err.message.empty(), "error without a message");
  auto frame = make_error({"s1-1", 1700000000000}, err);
  auto back = parse_server_message(frame);
  FUZZ_CHECK(back.ok(), frame.c_str());
  const auto* em = std::get_if<error_message>(&back->payload);
  FUZZ_CHECK(em != nullptr, "error frame read back as another type");
  FUZZ_CHECK(em->code == err.code, frame.c_str());
  FUZZ_CHECK(em->message == err.message, frame.c_str());
  FUZZ_CHECK(em->ref_id == err.ref_id, frame.c_str());
}

void check_client(const uint8_t* data, size_t size) {
  auto msg = parse_client_message(data, size);
  if (!msg) {
    check_error_frame(msg.error());
    return;
  }
  FUZZ_CHECK(!msg->env.id.empty(), "a parsed message without an id");
  auto text = serialize(msg.value());
  auto again = parse_client_message(text);
  FUZZ_CHECK(again.ok(), text.c_str());
  FUZZ_CHECK(again.value() == msg.value(), text.c_str());
  FUZZ_CHECK(serialize(again.value()) == text, text.c_str());
}

void check_http_command(const uint8_t* data, size_t size) {
  auto cmd = parse_http_command(data, size);
  if (!cmd) {
    check_error_frame(cmd.error());
    return;
  }
  // An HTTP command is a control_command without the envelope: wrapped
  // in one, it must parse to the same command.
  client_message wrapped{{cmd->id.value_or("h-1"), std::nullopt, std::nullopt},
                         cmd->command};
  auto text = serialize(wrapped);
  auto again = parse_client_message(text);
  FUZZ_CHECK(again.ok(), text.c_str());
  FUZZ_CHECK(again.value() == wrapped, text.c_str());
}

void check_server(const uint8_t* data, size_t size) {
  auto msg = parse_server_message(data, size);
  if (!msg) return;
  auto text = serialize(msg.value());
  auto again = parse_server_message(text);
  FUZZ_CHECK(again.ok(), text.c_str());
  FUZZ_CHECK(again.value() == msg.value(), text.c_str());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_client(data, size);
  check_http_command(data, size);
  check_server(data, size);
  return 0;
}
