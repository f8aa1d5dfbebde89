#!/usr/bin/env python3
"""A test SmartOS metadata service: protocol V2 and V1 on a unix stream
socket (one connection per zone client, or QEMU's `-chardev socket` for a
guest's serial port), with switches for the ways a service can go wrong.

    mdata_service.py --socket PATH --data FILE.json [--log FILE]
                     [--mode MODE] [--key KEY]

--data: a JSON object, key -> value (non-string values are sent as JSON
text, as SmartOS stores internal_metadata). --log: one JSON line per
request: {"op", "key", "proto"}. --mode: how replies to --key (default:
every request) go wrong:
    v2        (default) correct V2, and V1 commands too
    v1        a V1-only service: NEGOTIATE is an invalid command
    silent    never answers anything, not even NEGOTIATE
    mute      negotiates, then never answers
    garbage   a line that is not a frame
    badcrc    a frame whose CRC32 is off by one bit
    badid     a frame with another request id
    failure   FAILURE
    flaky     the first reply garbled (bad CRC), later ones correct
PUT of __dockerinit_waiting_for_attach stands for the user attaching: the
service then deletes docker:wait_for_attach.
"""
import argparse
import base64
import binascii
import json
import os
import socketserver
import sys
import threading

LOCK = threading.Lock()
ARGS = None
DATA = {}
FLAKY_DONE = set()


def log(op, key, proto):
    if not ARGS.log:
        return
    with LOCK, open(ARGS.log, "a") as f:
        f.write(json.dumps({"op": op, "key": key, "proto": proto}) + "\n")


def crc(b):
    return binascii.crc32(b) & 0xFFFFFFFF


def frame(rid, code, payload=None, bad_crc=False):
    body = "%08x %s" % (rid, code)
    if payload is not None:
        body += " " + base64.b64encode(payload).decode()
    c = crc(body.encode()) ^ (1 if bad_crc else 0)
    return ("V2 %d %08x %s\n" % (len(body), c, body)).encode()


def targeted(key):
    return ARGS.key is None or key == ARGS.key


def v2_reply(line):
    parts = line.split(" ", 3)
    if len(parts) != 4 or not parts[1].isdigit():
        return b"invalid command\n"
    _, length, checksum, body = parts
    if int(length) != len(body) or "%08x" % crc(body.encode()) != checksum:
        return b"invalid command\n"
    fields = body.split(" ")
    rid = int(fields[0], 16)
    op = fields[1] if len(fields) > 1 else ""
    arg = base64.b64decode(fields[2]) if len(fields) > 2 else b""
    key = None
    with LOCK:
        if op == "GET":
            key = arg.decode()
            code, payload = ("SUCCESS", DATA[key].encode()) if key in DATA else ("NOTFOUND", None)
        elif op == "KEYS":
            code = "SUCCESS"
            payload = "\n".join(k for k in DATA if not k.startswith("sdc:")).encode()
        elif op == "PUT":
            k, v = (base64.b64decode(x).decode() for x in arg.split(b" ", 1))
            key = k
            if k.startswith("sdc:"):
                code, payload = "FAILURE", b"sdc: keys are read-only"
            else:
                DATA[k] = v
                if k == "__dockerinit_waiting_for_attach":
                    DATA.pop("docker:wait_for_attach", None)
                code, payload = "SUCCESS", None
        elif op == "DELETE":
            key = arg.decode()
            DATA.pop(key, None)
            code, payload = "SUCCESS", None
        else:
            code, payload = "FAILURE", None
    log(op, key, 2)
    mode = ARGS.mode if targeted(key) else "v2"
    if mode == "flaky":
        with LOCK:
            first = key not in FLAKY_DONE
            FLAKY_DONE.add(key)
        return frame(rid, code, payload, bad_crc=first)
    if mode == "mute":
        return b""
    if mode == "garbage":
        return b"%%%% this is not a frame %%%%\n"
    if mode == "badcrc":
        return frame(rid, code, payload, bad_crc=True)
    if mode == "badid":
        return frame(rid ^ 1, code, payload)
    if mode == "failure":
        return frame(rid, "FAILURE")
    return frame(rid, code, payload)


def v1_reply(line):
    op, _, key = line.partition(" ")
    log(op, key or None, 1)
    with LOCK:
        if op == "GET" and key:
            if key not in DATA:
                return b"NOTFOUND\n"
            value = DATA[key]
        elif op == "KEYS" and not key:
            value = "\n".join(k for k in DATA if not k.startswith("sdc:"))
        else:
            return b"invalid command\n"
    out = ["SUCCESS"]
    for l in value.split("\n") if value else []:
        out.append("." + l if l.startswith(".") else l)
    out.append(".")
    return ("\n".join(out) + "\n").encode()


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for raw in self.rfile:
            if ARGS.mode == "silent":
                continue
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line == "":
                out = b"invalid command\n"
            elif line == "NEGOTIATE V2":
                log("NEGOTIATE", None, 0)
                out = b"invalid command\n" if ARGS.mode == "v1" else b"V2_OK\n"
            elif line.startswith("V2 ") and ARGS.mode != "v1":
                out = v2_reply(line)
            else:
                out = v1_reply(line)
            if out:
                self.wfile.write(out)
                self.wfile.flush()


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--socket", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--log")
    p.add_argument("--key")
    p.add_argument(
        "--mode",
        default="v2",
        choices=["v2", "v1", "silent", "mute", "garbage", "badcrc", "badid", "failure", "flaky"],
    )
    ARGS = p.parse_args()
    with open(ARGS.data) as f:
        for k, v in json.load(f).items():
            DATA[k] = v if isinstance(v, str) else json.dumps(v)
    if os.path.exists(ARGS.socket):
        os.unlink(ARGS.socket)
    # Bound under a temporary name and renamed: the path appears only once
    # the service accepts connections.
    tmp = ARGS.socket + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    srv = Server(tmp, Handler)
    os.chmod(tmp, 0o777)
    os.rename(tmp, ARGS.socket)
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
