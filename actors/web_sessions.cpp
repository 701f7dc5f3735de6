#include "actors/web_sessions.hpp"

#include <openssl/rand.h>

#include "actors/auth.hpp"
#include "caf/atom.hpp"
#include "caf/result.hpp"

namespace scopehub {

namespace {

void purge(web_sessions_state& st) {
  auto now = std::chrono::steady_clock::now();
  for (auto i = st.sessions.begin(); i != st.sessions.end();)
    if (i->second.expires <= now)
      i = st.sessions.erase(i);
    else
      ++i;
  while (st.sessions.size() >= st.max_sessions && !st.sessions.empty()) {
    auto oldest = st.sessions.begin();
    for (auto i = st.sessions.begin(); i != st.sessions.end(); ++i)
      if (i->second.expires < oldest->second.expires) oldest = i;
    st.sessions.erase(oldest);
  }
}

} // namespace

caf::behavior web_sessions_actor(web_sessions_ptr self, size_t max_sessions) {
  self->state.max_sessions = max_sessions > 0 ? max_sessions : 1;
  return {
    [self](caf::put_atom, const std::string& label, const std::string& role,
           const std::vector<std::string>& telescopes, int64_t ttl_ms) {
      auto& st = self->state;
      purge(st);
      auto id = random_session_id();
      if (id.empty()) return id;
      web_session ws;
      ws.label = label;
      ws.role = role;
      ws.telescopes = telescopes;
      ws.expires
        = std::chrono::steady_clock::now() + std::chrono::milliseconds{ttl_ms};
      st.sessions[auth::sha256_hex(id)] = std::move(ws);
      return id;
    },
    [self](caf::get_atom, const std::string& id)
      -> caf::result<bool, std::string, std::string, std::vector<std::string>> {
      auto& st = self->state;
      auto i = st.sessions.find(auth::sha256_hex(id));
      if (i == st.sessions.end()
          || i->second.expires <= std::chrono::steady_clock::now())
        return {false, std::string{}, std::string{},
                std::vector<std::string>{}};
      return {true, i->second.label, i->second.role, i->second.telescopes};
    },
    [self](caf::delete_atom, const std::string& id) {
      return self->state.sessions.erase(auth::sha256_hex(id)) > 0;
    },
  };
}

std::string random_session_id() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return {};
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (auto b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 0xF];
  }
  return out;
}

std::string cookie_value(const std::string& header, const std::string& name) {
  size_t pos = 0;
  while (pos < header.size()) {
    while (pos < header.size() && (header[pos] == ' ' || header[pos] == ';'))
      ++pos;
    auto end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    auto eq = header.find('=', pos);
    if (eq != std::string::npos && eq < end
        && header.compare(pos, eq - pos, name) == 0)
      return header.substr(eq + 1, end - eq - 1);
    pos = end;
  }
  return {};
}

} // namespace scopehub
