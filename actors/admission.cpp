#include "actors/admission.hpp"

#include <algorithm>

#include "caf/atom.hpp"
#include "caf/result.hpp"
#include "caf/send.hpp"

namespace scopehub {

namespace {

class ticket {
 public:
  ticket(caf::actor admission, std::string address)
    : admission_(std::move(admission)), address_(std::move(address)) {
    // nop
  }

  ticket(const ticket&) = delete;
  ticket& operator=(const ticket&) = delete;

  ~ticket() {
    if (admission_) caf::anon_send(admission_, caf::delete_atom_v, address_);
  }

 private:
  caf::actor admission_;
  std::string address_;
};

} // namespace

caf::behavior admission_actor(admission_ptr self, admission_limits limits) {
  self->state.limits = limits;
  return {
    [self](caf::put_atom, const std::string& address) {
      auto& st = self->state;
      if (st.open >= st.limits.max_connections) {
        ++st.refused_server_full;
        return static_cast<uint8_t>(admission_verdict::server_full);
      }
      auto& n = st.per_address[address];
      const auto& ex = st.limits.exempt;
      if (n >= st.limits.max_per_address
          && std::find(ex.begin(), ex.end(), address) == ex.end()) {
        ++st.refused_address_full;
        return static_cast<uint8_t>(admission_verdict::address_full);
      }
      ++n;
      ++st.open;
      return static_cast<uint8_t>(admission_verdict::admitted);
    },
    [self](caf::delete_atom, const std::string& address) {
      auto& st = self->state;
      auto i = st.per_address.find(address);
      if (i == st.per_address.end()) return;
      if (--i->second == 0) st.per_address.erase(i);
      if (st.open > 0) --st.open;
    },
    [self](caf::get_atom) -> caf::result<uint64_t, uint64_t> {
      auto& st = self->state;
      return {static_cast<uint64_t>(st.open),
              st.refused_server_full + st.refused_address_full};
    },
  };
}

std::string address_of(std::string_view peer) {
  if (!peer.empty() && peer.front() == '[') {
    auto close = peer.find(']');
    if (close != std::string_view::npos)
      return std::string{peer.substr(1, close - 1)};
  }
  auto colon = peer.rfind(':');
  if (colon == std::string_view::npos || peer.find(':') != colon)
    return std::string{peer};
  return std::string{peer.substr(0, colon)};
}

std::shared_ptr<const void> make_admission_ticket(caf::actor admission,
                                                  std::string address) {
  return std::make_shared<ticket>(std::move(admission), std::move(address));
}

} // namespace scopehub
