#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ (checked in).

Run again after a protocol change: python3 tests/fuzz/make_corpus.py.
Inputs are hand-written shapes from docs/protocol.md and the Seestar
notes, one file each, named after what they show. Files this script did
not write (e.g. merged finds) are left alone.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def j(x):
    return json.dumps(x, separators=(",", ":"))


def cmd(i, action, params=None, tid="seestar-001", **extra):
    payload = {"action": action}
    if params is not None:
        payload["parameters"] = params
    payload.update(extra)
    m = {"id": "c-%d" % i, "type": "control_command", "payload": payload}
    if tid:
        m["telescope_id"] = tid
    return j(m)


ACTIONS = [
    ("goto", {"ra": 11.86, "dec": 40, "target_name": "M 13"}),
    ("move", {"direction": "north", "duration": 500, "speed": 50}),
    ("stop", None),
    ("park", {}),
    ("focus", {"position": 1300}),
    ("focus_increment", {"increment": -20}),
    ("start_imaging", {"target_name": "M 31", "exposure_ms": 10000}),
    ("stop_imaging", None),
    ("set_gain", {"gain": 80}),
    ("set_exposure", {"exposure_ms": 2000}),
    ("scenery", {"mode": "moon"}),
    ("set_image_enhancement", {"denoise": True, "stretch": 0.5}),
    ("get_image_enhancement", None),
    ("get_status", {"categories": ["position", "focus"]}),
    ("cancel", {"command_id": "c-1"}),
    ("acquire_control", {"ttl_ms": 60000, "force": False}),
    ("release_control", None),
    ("batch", {"commands": [{"action": "set_gain", "parameters": {"gain": 10}},
                            {"action": "focus", "parameters": {"position": 5}},
                            {"action": "stop"}]}),
    ("reboot", None),
]


def client_frames():
    out = {}
    for i, (a, p) in enumerate(ACTIONS, 1):
        out["cmd_" + a] = cmd(i, a, p)
    out["cmd_no_reply"] = cmd(40, "stop", None, response_expected=False)
    out["cmd_timeout"] = cmd(41, "goto", {"ra": 0, "dec": -90}, timeout_ms=5000)
    out["cmd_bound"] = cmd(42, "park", None, tid=None)
    out["subscribe"] = j({"id": "c-50", "type": "subscribe",
                          "telescope_id": "seestar-001",
                          "payload": {"subscription_types": ["position"]}})
    out["subscribe_all"] = j({"id": "c-51", "type": "subscribe"})
    out["subscribe_pattern"] = j(
        {"id": "c-52", "type": "subscribe",
         "payload": {"telescope_pattern": "seestar-*",
                     "subscription_types": ["focus", "imaging", "system"]}})
    out["subscribe_resume"] = j(
        {"id": "c-53", "type": "subscribe", "telescope_id": "seestar-001",
         "payload": {"subscription_types": ["status"],
                     "resume_from": {"position": 2, "focus": 0,
                                     "imaging": 7, "system": 1}}})
    out["unsubscribe"] = j({"id": "c-54", "type": "unsubscribe",
                            "telescope_id": "seestar-001",
                            "payload": {"subscription_types": ["all"]}})
    out["heartbeat"] = j({"id": "h-1", "type": "heartbeat",
                          "timestamp": 1700000000000, "payload": {}})
    # rejected on purpose: one per error path
    out["bad_json"] = '{"id":"x-1","type":'
    out["bad_type"] = j({"id": "x-2", "type": "launch_missiles"})
    out["bad_range"] = cmd(60, "goto", {"ra": 1, "dec": 91})
    out["bad_action"] = cmd(61, "dance", {})
    out["bad_dup"] = '{"id":"x-3","id":"x-4","type":"heartbeat"}'
    out["bad_deep"] = '{"id":"x-5","type":"heartbeat","payload":' + \
        '{"a":' * 40 + '1' + '}' * 41
    out["bad_utf8"] = b'{"id":"x-6","type":"heartbeat","p":"\xff\xfe"}'
    out["bad_server_type"] = j({"id": "x-7", "type": "status_update"})
    out["bad_pattern_and_id"] = j(
        {"id": "x-8", "type": "subscribe", "telescope_id": "a",
         "payload": {"telescope_pattern": "b*"}})
    out["bad_batch_nested"] = cmd(62, "batch", {"commands": [
        {"action": "batch", "parameters": {"commands": [{"action": "stop"}]}}]})
    out["bad_enhancement_extra"] = cmd(63, "set_image_enhancement",
                                       {"denoise": True, "glow": 1})
    return out


def server_frames():
    st = 1700000000000
    return {
        "srv_status_update": j(
            {"id": "s-e1-2", "type": "status_update",
             "telescope_id": "seestar-001", "timestamp": st,
             "payload": {"category": "position", "seq": 2, "epoch": "e1",
                         "status": {"ra": 1.5, "slewing": True},
                         "changes": ["ra", "slewing"],
                         "full_update": False, "conflated": 3}}),
        "srv_discovered": j(
            {"id": "d-4", "type": "telescope_discovered",
             "telescope_id": "seestar-001", "timestamp": st,
             "payload": {"telescope": {
                 "id": "seestar-001", "name": "Simulated Seestar S50",
                 "model": "Seestar S50", "host": "127.0.0.1", "port": 4700,
                 "node": "local", "state": "online"}}}),
        "srv_lost": j({"id": "d-5", "type": "telescope_lost",
                       "telescope_id": "seestar-001", "timestamp": st,
                       "payload": {"reason": "device closed the connection"}}),
        "srv_response": j(
            {"id": "s2-25", "type": "command_response",
             "telescope_id": "seestar-001", "timestamp": st,
             "payload": {"command_id": "c-2", "success": True,
                         "result": {"status": "goto_complete"},
                         "error": None, "error_code": None,
                         "duration_ms": 761}}),
        "srv_response_failed": j(
            {"id": "s2-26", "type": "command_response", "timestamp": st,
             "payload": {"command_id": "c-3", "success": False,
                         "result": None, "error": "below horizon",
                         "error_code": "INVALID_PARAMETERS",
                         "duplicate": True}}),
        "srv_progress": j(
            {"id": "s2-3", "type": "command_progress", "timestamp": st,
             "payload": {"command_id": "c-2", "state": "working",
                         "detail": {"dist_deg": 16.3}}}),
        "srv_heartbeat": j(
            {"id": "s2-1", "type": "heartbeat", "timestamp": st,
             "payload": {"server_time": st, "session_id": "s2",
                         "heartbeat_interval_ms": 30000, "protocol": 1,
                         "server": "scopehub/0.1.0", "role": "operator"}}),
        "srv_error": j(
            {"id": "s2-9", "type": "error", "timestamp": st,
             "payload": {"error_code": "TELESCOPE_NOT_FOUND",
                         "message": "no telescope 'x' (yet)",
                         "ref_id": "c-1", "subscription_kept": True}}),
    }


def http_bodies():
    return {
        "http_cmd": j({"id": "k-1", "action": "goto",
                       "parameters": {"ra": 5.5, "dec": -5},
                       "response_expected": True, "timeout_ms": 30000}),
        "http_cmd_min": j({"action": "stop"}),
    }


SEESTAR = {
    "resp_ok": '{"jsonrpc":"2.0","Timestamp":"4514.655594001","method":"start_solve","result":0,"code":0,"id":10011}\r\n',
    "resp_coord": '{"jsonrpc":"2.0","Timestamp":"9507.244805160","method":"scope_get_equ_coord","result":{"ra":17.093056,"dec":34.349722},"code":0,"id":83}\r\n',
    "resp_error": '{"jsonrpc":"2.0","Timestamp":"3957.619006162","method":"get_last_solve_result","error":"no solve data","code":215,"id":1}\r\n',
    "resp_busy": '{"jsonrpc":"2.0","Timestamp":"12.5","method":"scope_goto","error":"equipment is moving","code":203,"id":10020}\r\n',
    "resp_array": '{"jsonrpc":"2.0","Timestamp":"10.000000001","method":"scope_get_horiz_coord","result":[45.1,180.2],"code":0,"id":10021}\r\n',
    "resp_device_state": '{"jsonrpc":"2.0","Timestamp":"100.1","method":"get_device_state","result":{"device":{"firmware_ver_string":"6.45","product_model":"Seestar S50"},"setting":{"exp_ms":{"stack_l":10000,"continuous":500},"gain":80},"mount":{"close":true,"tracking":false},"focuser":{"step":1580,"max_step":2600},"pi_status":{"battery_capacity":95,"charger_status":"Discharging","temp":42.2},"storage":{"cur_storage":"emmc","storage_volume":[{"name":"emmc","freeMB":20480,"totalMB":51200}]}},"code":0,"id":10001}\r\n',
    "ev_pistatus": '{"Event":"PiStatus","Timestamp":"4515.241781720","temp":44.5,"battery_capacity":80,"charger_status":"Charging"}\r\n',
    "ev_goto": '{"Event":"ScopeGoto","Timestamp":"1162.789215939","state":"working","lapse_ms":0,"cur_ra_dec":[21.100833,4.908333],"dist_deg":100.180442,"route":["View","AutoGoto"]}\r\n',
    "ev_track": '{"Event":"ScopeTrack","Timestamp":"1.1","state":"on","tracking":true,"manual":false}\r\n',
    "ev_home": '{"Event":"ScopeHome","Timestamp":"2.2","state":"complete","lapse_ms":5000,"close":true,"equ_mode":false}\r\n',
    "ev_horizon": '{"Event":"ScopeMoveToHorizon","Timestamp":"2.3","state":"working","close":false}\r\n',
    "ev_focuser": '{"Event":"FocuserMove","Timestamp":"3.3","state":"complete","lapse_ms":900,"position":1300,"route":[]}\r\n',
    "ev_view_solar": '{"Event":"View","Timestamp":"4.4","state":"working","mode":"solar_sys","target_type":"moon","target_name":"Moon","cam_id":0,"lp_filter":false,"gain":80}\r\n',
    "ev_view_cancel": '{"Event":"View","Timestamp":"4.5","state":"cancel","mode":"star","target_name":"M 13"}\r\n',
    "ev_stack": '{"Event":"Stack","Timestamp":"5.5","state":"frame_complete","frame_type":"light","stacked_frame":12,"dropped_frame":1,"total_frame":13}\r\n',
    "ev_exposure": '{"Event":"Exposure","Timestamp":"6.6","page":"preview","tag":"Exposure-AutoGoto","state":"start","exp_ms":2000}\r\n',
    "ev_exposure_user": '{"Event":"Exposure","Timestamp":"6.7","state":"complete","exp_ms":10000,"route":["View","Stack"]}\r\n',
    "ev_alert": '{"Event":"Alert","Timestamp":"7.7","error":"below horizon","code":270}\r\n',
    "ev_autofocus": '{"Event":"AutoFocus","Timestamp":"8.8","state":"working","result":{"x_scale":1,"y_scale":2,"points":[[1500,3.2],[1520,2.9]],"status_flag":0}}\r\n',
    "stream_mixed": '{"Event":"PiStatus","Timestamp":"1.0","temp":40.0}\r\n{"jsonrpc":"2.0","Timestamp":"1.1","method":"scope_park","result":0,"code":0,"id":10002}\n\r\n{"Event":"ScopeHome","Timestamp":"1.2","state":"working"}\r\n{"jsonrpc":"2.0","Timestamp":"1.3","meth',
    "invalid_lines": 'not json\r\n[1,2,3]\r\n{"Event":5}\r\n{"id":"x","jsonrpc":"2.0"}\r\n{"id":7,"code":"bad"}\r\n{"hello":1}\r\n\r\n',
    "overlong": '{"Event":"PiStatus","junk":"' + "x" * 120 + '"}\r\n{"Event":"PiStatus","temp":1}\r\n',
}


def http_requests():
    up = ("Host: 127.0.0.1:8000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n")
    return {
        "health": "0GET /api/ws/health HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "health_post": "0POST /api/ws/health HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
        "ws_upgrade": "0GET /api/ws HTTP/1.1\r\n" + up + "\r\n",
        "ws_bound_query": "0GET /api/ws/seestar-001?token=abc&client_id=x HTTP/1.1\r\n" + up
                          + "Authorization: Bearer abc\r\nOrigin: http://localhost\r\nCookie: sid=1\r\nUser-Agent: t\r\n\r\n",
        "ws_no_upgrade": "0GET /api/ws/seestar-001 HTTP/1.1\r\nHost: a\r\n\r\n",
        "ws_bad_id": "0GET /api/ws/bad%20id HTTP/1.1\r\nHost: a\r\n\r\n",
        "ws_trailing_slash": "0GET /api/ws/ HTTP/1.1\r\nHost: a\r\n\r\n",
        "ws_put": "0PUT /api/ws HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        "session_post": "1POST /api/session HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"token\":\"abcde\"}",
        "session_delete": "1DELETE /api/session HTTP/1.1\r\nHost: a\r\nCookie: sid=1\r\n\r\n",
        "session_get": "1GET /api/session HTTP/1.1\r\nHost: a\r\n\r\n",
        "session_no_hook": "0POST /api/session HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        "chunked": "1POST /api/session HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n",
        "pipelined": "0GET /api/ws/health HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\nGET /api/ws?x=1 HTTP/1.0\r\n\r\n",
        "http10_close": "0GET /api/ws/health HTTP/1.0\r\nConnection: close\r\n\r\n",
        "not_found": "0GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n",
        "bad_request": "0GARBAGE\r\n\r\n",
        "big_header": "0GET / HTTP/1.1\r\nX-Pad: " + "a" * 300 + "\r\n\r\n",
    }


def session_inputs():
    sub = j({"id": "c-1", "type": "subscribe", "telescope_id": "scope-1",
             "payload": {"subscription_types": ["position"]}})
    subm = j({"id": "c-2", "type": "subscribe", "telescope_id": "mute-1"})
    unsub = j({"id": "c-3", "type": "unsubscribe", "telescope_id": "scope-1",
               "payload": {"subscription_types": ["position"]}})
    pat = j({"id": "c-4", "type": "subscribe",
             "payload": {"telescope_pattern": "scope-*",
                         "subscription_types": ["focus"]}})
    later = j({"id": "c-5", "type": "subscribe", "telescope_id": "later-1"})
    resume = j({"id": "c-6", "type": "subscribe", "telescope_id": "scope-1",
                "payload": {"subscription_types": ["position"],
                            "resume_from": {"position": 1}}})
    hb = j({"id": "h-1", "type": "heartbeat"})

    def c(i, action, params=None, tid="scope-1", **kw):
        return cmd(i, action, params, tid=tid, **kw).replace('"c-', '"k-')

    out = {
        "subscribe_flow": "@\n" + "\n".join([sub, pat, later, resume, unsub, hb]),
        "commands": "@\n" + "\n".join([
            c(1, "set_gain", {"gain": 42}), c(2, "stop", response_expected=False),
            c(3, "goto", {"ra": 1, "dec": 2}, tid="mute-1"),
            c(4, "park", tid="nope"), c(5, "reboot"), c(6, "park", tid=None),
            c(7, "batch", {"commands": [{"action": "stop"}]})]),
        "observer": "A\n" + "\n".join([c(1, "park"), sub, hb]),
        "admin": "B\n" + "\n".join([c(1, "reboot"), c(2, "acquire_control", {"force": True})]),
        "bound": "D\n" + "\n".join([c(1, "park", tid=None), unsub, sub]),
        "scoped": "H\n" + "\n".join([subm, c(1, "stop", tid="mute-1"), pat, sub]),
        "tight_limits": "P\n" + "\n".join(
            [sub, subm, pat, c(1, "stop", tid="mute-1"), c(2, "stop"), hb, hb, hb, hb]),
        "bad_frames": "@\n" + "\n".join(['not json', j({"id": "x-1", "type": "launch"}),
                                          c(1, "goto", {"ra": 1, "dec": 91}),
                                          '{"id":"x-2","id":"x-3","type":"heartbeat"}',
                                          "", "{}"]),
        "events": "@\n" + "\n".join(["\x01", "\x02", "\x03", sub, "\x04", "\x06",
                                      c(1, "stop", tid="mute-1"), "\x05", "\x05",
                                      "\x05", "\x03", hb]),
        "server_close": "@\n" + "\n".join([sub, "\x07", hb, c(1, "stop")]),
        "stale_close": "@\n" + "\n".join(["\x05", "\x05", "\x05", "\x03", sub]),
        "rate_abuse": "P\n" + "\n".join([hb] * 10),
    }
    return out


def write(target, files):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    frame = {}
    frame.update(client_frames())
    frame.update(server_frames())
    frame.update(http_bodies())
    write("frame", frame)
    write("seestar", SEESTAR)
    write("http", http_requests())
    write("session", session_inputs())


if __name__ == "__main__":
    main()
