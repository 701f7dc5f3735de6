#pragma once

// scopebench scenarios. Each one starts its own fake device and scopehub
// child, runs a bounded load on one thread (device and clients share the
// io_context, so one clock times both ends), stops everything and returns
// the one JSON line it reports.

#include <string>

#include "apps/scopebench/common.hpp"

namespace scopebench {

/// N subscribers of the telescope's `system` topic, R device events/s for
/// D seconds: device-emit -> client-receipt latency, delivered %.
std::string run_fanout(const options& opts);

/// C closed-loop clients sending set_gain: RTT, commands/s, and how many
/// set_control_value calls reached the device.
std::string run_command(const options& opts);

/// N idle subscribed connections: server VmRSS before/after, KB per
/// connection; then a hold with 1 event/s checks they all still receive.
std::string run_conns(const options& opts);

/// N connect + upgrade + subscribe + snapshot + close cycles, at most
/// `inflight` at once: connects/s, handshake and ready latency
/// (connect_rate.cpp).
std::string run_connect_rate(const options& opts);

/// N subscribed connections held for D s (up to hours) with R events/s
/// and C clients sending Q set_gain/s each: server RSS every `sample` s,
/// delivery, command answers, latency percentiles (soak.cpp).
std::string run_soak(const options& opts);

} // namespace scopebench
