#!/usr/bin/env python3
"""tests/transport_fault.py - scripted proxies and WebSocket servers for tests/t_transport.sh:
what real ones will not do on demand. Python 3 standard library only; 127.0.0.1 only.

    transport_fault.py KIND [--fault F] [--user U --password P] [--slow] ...

KIND is socks5, http or ws. It prints "listening on 127.0.0.1:PORT", then serves every
connection (each in a thread) until killed, and logs what it saw, one line each, as
"conn N: ..." (flushed at once); a client that breaks a rule is logged "conn N: ERROR ...".

socks5 (RFC 1928, 1929): --fault rep:N answers the request with REP N (1..8);
  method-refused answers the greeting with 0xFF; login-refused takes user/password and
  refuses it (status 1); with --user/--password those are checked. Otherwise it connects to
  the target the client asked for (loopback only) and relays: a real SOCKS5 server.
  --bnd ipv4|ipv6|domain: the address type in the reply (the client must read it to its end).
http (CONNECT): --fault status:N answers N (407 with Proxy-Authenticate) and closes; with
  --user/--password a wrong Proxy-Authorization is 407. Otherwise 200 and a relay to the
  target. --http10: "HTTP/1.0 200"; --long-header: an 8000-byte header line; --many-headers:
  200 header lines; --fault empty-reason: "HTTP/1.1 200 " (a status line with no words);
  --fault content-length: the 200 says "Content-Length: 10" (a client MUST ignore it, RFC
  9110 9.3.6: the tunnel starts right after the head).
ws (RFC 6455, then just enough MQTT 3.1.1 itself: CONNACK, SUBACK, acks, PUBLISH echoed
  back at QoS 0 once a subscription exists, PINGRESP). --fault: bad-accept, no-protocol,
  status:N (200, 404), masked (CONNACK in a masked frame), text (in a text frame),
  fragmented (CONNACK over three frames: FIN=0, continuation, continuation FIN=1),
  coalesced (CONNACK and a PUBLISH on "fault/coalesced" in one frame), ping (a PING with a
  payload after CONNACK: the client's PONG must carry it), close (a CLOSE instead of CONNACK:
  the client must answer CLOSE), ping-mid (a PING while the client's packet is half sent: its
  PONG must come between its frames), rsv (CONNACK with RSV1 set), opcode (CONNACK in a
  frame of reserved opcode 3), lowercase (the 101's header names and values in other cases),
  other-protocol (selects "mqttv3.1"), extension (a Sec-WebSocket-Extensions not asked for),
  no-upgrade / no-connection (the 101 without that header) [RFC 6455 4.1: the client fails
  the connection]; ping-in-fragments (a PING between a fragmented CONNACK's frames),
  empty-frames (empty binary frames around the CONNACK), big-ping (a PING of 126 bytes: a
  control frame is at most 125 [RFC 6455 5.5]), lone-continuation (a continuation frame
  with no message begun). Every client frame must be masked (RFC 6455 5.1).
--fault silent (all kinds): the handshake's first message is read, and never answered.
--early (socks5, http, ws): the script is the broker itself, and its CONNACK goes in the same
  send as the handshake's answer, before CONNECT: the stage must read its answer exactly to
  its end and leave the CONNACK to MQTT.
--slow (all kinds): the handshake's answer goes one byte per send, 2 ms apart.
"""
import argparse
import base64
import hashlib
import os
import socket
import struct
import sys
import threading
import time

LOCK = threading.Lock()
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def log(n, text):
    with LOCK:
        print("conn %d: %s" % (n, text), flush=True)


class Closed(Exception):
    pass


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise Closed()
        data += chunk
    return data


def recv_head(s):
    """An HTTP head, to its blank line, a byte at a time: nothing after it is taken."""
    data = b""
    while not data.endswith(b"\r\n\r\n"):
        data += recv_exact(s, 1)
        if len(data) > 65536:
            raise Closed()
    return data


def send(s, data, slow):
    if not slow:
        s.sendall(data)
        return
    for i in range(len(data)):
        s.sendall(data[i:i + 1])
        time.sleep(0.002)


def loopback_target(host, port):
    if host not in ("localhost", "127.0.0.1", "::1"):
        raise Closed()
    return socket.create_connection(("::1" if host == "::1" else "127.0.0.1", port), timeout=10)


def relay(a, b):
    """Bytes both ways until either side ends."""
    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    t = threading.Thread(target=pump, args=(b, a), daemon=True)
    t.start()
    pump(a, b)
    t.join(30)


def wait_for_end(n, s):
    """Says nothing more; logs when the client gives up (closes)."""
    while s.recv(4096):
        pass
    log(n, "the client closed")


# ---- SOCKS5 ----

def socks5(n, s, args):
    ver, count = recv_exact(s, 2)
    methods = recv_exact(s, count)
    log(n, "greeting version %d methods %s" % (ver, ",".join(str(m) for m in methods)))
    if args.fault == "silent":
        return wait_for_end(n, s)
    if ver != 5:
        log(n, "ERROR greeting version %d" % ver)
    if args.fault == "method-refused":
        send(s, b"\x05\xff", args.slow)
        return
    wants_login = args.user is not None or args.fault == "login-refused"
    if wants_login:
        if 2 not in methods:
            send(s, b"\x05\xff", args.slow)
            return
        send(s, b"\x05\x02", args.slow)
        sub, ulen = recv_exact(s, 2)
        user = recv_exact(s, ulen)
        plen = recv_exact(s, 1)[0]
        password = recv_exact(s, plen)
        log(n, "login version %d user %s password %s" % (sub, user.decode(), password.decode()))
        good = args.fault != "login-refused" and user.decode() == args.user and password.decode() == args.password
        send(s, b"\x01\x00" if good else b"\x01\x01", args.slow)
        if not good:
            return
    else:
        if 0 not in methods:
            send(s, b"\x05\xff", args.slow)
            return
        send(s, b"\x05\x00", args.slow)
    ver, cmd, rsv, atyp = recv_exact(s, 4)
    if atyp == 1:
        host = socket.inet_ntop(socket.AF_INET, recv_exact(s, 4))
        kind = "ipv4"
    elif atyp == 4:
        host = socket.inet_ntop(socket.AF_INET6, recv_exact(s, 16))
        kind = "ipv6"
    elif atyp == 3:
        host = recv_exact(s, recv_exact(s, 1)[0]).decode()
        kind = "domain"
    else:
        log(n, "ERROR request address type %d" % atyp)
        return
    port = struct.unpack("!H", recv_exact(s, 2))[0]
    log(n, "request version %d command %d %s %s port %d" % (ver, cmd, kind, host, port))
    if ver != 5 or cmd != 1 or rsv != 0:
        log(n, "ERROR request header %d %d %d" % (ver, cmd, rsv))
    bnd = {"ipv4": b"\x01\x7f\x00\x00\x01", "ipv6": b"\x04" + socket.inet_pton(socket.AF_INET6, "::1"),
           "domain": b"\x03\x0dproxy.example"}[args.bnd] + b"\x04\x38"
    if args.fault and args.fault.startswith("rep:"):
        send(s, bytes([5, int(args.fault[4:]), 0]) + bnd, args.slow)
        return
    if args.early:
        s.sendall(b"\x05\x00\x00" + bnd + CONNACK)
        RawMqtt(n, s, args).run()
        return
    target = loopback_target(host, port)
    send(s, b"\x05\x00\x00" + bnd, args.slow)
    log(n, "relaying")
    relay(s, target)


# ---- HTTP CONNECT ----

REASONS = {200: "OK", 403: "Forbidden", 404: "Not Found", 407: "Proxy Authentication Required",
           502: "Bad Gateway", 503: "Service Unavailable"}


def http_answer(code, extra=b"", version=b"HTTP/1.1"):
    body = b"<html>no</html>\n"
    return (version + b" %d %s\r\n" % (code, REASONS.get(code, "Status").encode()) + extra +
            b"Content-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


def http(n, s, args):
    head = recv_head(s).decode("latin-1")
    lines = head.split("\r\n")
    log(n, "request %s" % lines[0])
    auth = None
    for line in lines[1:]:
        if line.lower().startswith("proxy-authorization:"):
            value = line.split(":", 1)[1].strip()
            if value.startswith("Basic "):
                auth = base64.b64decode(value[6:]).decode()
            log(n, "authorization %s" % (auth if auth is not None else value))
        if line.lower().startswith("host:"):
            log(n, "host %s" % line.split(":", 1)[1].strip())
    method, target, _ = lines[0].split(" ", 2)
    if args.fault == "silent":
        return wait_for_end(n, s)
    if method != "CONNECT":
        log(n, "ERROR method %s" % method)
    if args.fault and args.fault.startswith("status:"):
        code = int(args.fault[7:])
        extra = b'Proxy-Authenticate: Basic realm="fault"\r\n' if code == 407 else b""
        send(s, http_answer(code, extra), args.slow)
        return
    if args.user is not None and auth != "%s:%s" % (args.user, args.password):
        send(s, http_answer(407, b'Proxy-Authenticate: Basic realm="fault"\r\n'), args.slow)
        return
    answer = b"HTTP/1.0" if args.http10 else b"HTTP/1.1"
    answer += b" 200 \r\n" if args.fault == "empty-reason" else b" 200 Connection established\r\n"
    if args.fault == "content-length":
        answer += b"Content-Length: 10\r\n"
    if args.long_header:
        answer += b"X-Long: " + b"a" * 8000 + b"\r\n"
    if args.many_headers:
        answer += b"".join(b"X-Header-%d: value %d\r\n" % (i, i) for i in range(200))
    if args.early:
        s.sendall(answer + b"\r\n" + CONNACK)
        RawMqtt(n, s, args).run()
        return
    host, port = target.rsplit(":", 1)
    conn = loopback_target(host.strip("[]"), int(port))
    send(s, answer + b"\r\n", args.slow)
    log(n, "relaying")
    relay(s, conn)


# ---- WebSocket, and MQTT 3.1.1 behind it ----

def frame(opcode, payload, fin=True, mask=False):
    head = bytes([(0x80 if fin else 0) | opcode])
    m = 0x80 if mask else 0
    if len(payload) < 126:
        head += bytes([m | len(payload)])
    elif len(payload) < 65536:
        head += bytes([m | 126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([m | 127]) + struct.pack("!Q", len(payload))
    if mask:
        key = os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def read_frame(n, s):
    b0, b1 = recv_exact(s, 2)
    length = b1 & 0x7F
    if length == 126:
        length = struct.unpack("!H", recv_exact(s, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", recv_exact(s, 8))[0]
    if not b1 & 0x80:
        log(n, "ERROR unmasked client frame (opcode %d)" % (b0 & 0x0F))
        key = b"\0\0\0\0"
    else:
        key = recv_exact(s, 4)
    if b0 & 0x70:
        log(n, "ERROR reserved bits in a client frame")
    data = recv_exact(s, length)
    data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return b0 & 0x80, b0 & 0x0F, data


def mqtt_packet(ptype, flags, body):
    rem, out = len(body), b""
    while True:
        byte = rem % 128
        rem //= 128
        out += bytes([byte | (0x80 if rem else 0)])
        if not rem:
            break
    return bytes([ptype << 4 | flags]) + out + body


def mqtt_str(text):
    return struct.pack("!H", len(text)) + text


def split_packets(buf):
    """Complete MQTT packets at the front of buf, and the rest."""
    packets = []
    while len(buf) >= 2:
        mult, rem, i = 1, 0, 1
        while True:
            if i >= len(buf):
                return packets, buf
            rem += (buf[i] & 0x7F) * mult
            mult *= 128
            i += 1
            if not buf[i - 1] & 0x80:
                break
        if len(buf) < i + rem:
            break
        packets.append((buf[0] >> 4, buf[0] & 0x0F, buf[i:i + rem]))
        buf = buf[i + rem:]
    return packets, buf


def connect_fields(body):
    """A CONNECT's level, client id, user name and password [MQTT-3.1.3], for the log."""
    def field(pos):
        n = struct.unpack("!H", body[pos:pos + 2])[0]
        return body[pos + 2:pos + 2 + n].decode("latin-1"), pos + 2 + n
    _, pos = field(0)
    level, flags = body[pos], body[pos + 1]
    client_id, pos = field(pos + 4)
    if flags & 0x04:
        _, pos = field(pos)
        _, pos = field(pos)
    user = password = "(none)"
    if flags & 0x80:
        user, pos = field(pos)
    if flags & 0x40:
        password, pos = field(pos)
    return "level %d id %s user %s password %s" % (level, client_id, user, password)


class WsMqtt:
    def __init__(self, n, s, args):
        self.n, self.s, self.args = n, s, args
        self.subscribed = False
        self.next_id = 0

    def send(self, data):
        self.s.sendall(frame(2, data))

    def on_connect(self, body):
        connack = CONNACK
        fault = self.args.fault
        log(self.n, "mqtt CONNECT %s" % connect_fields(body))
        if self.args.early:
            pass  # it went with the handshake's answer
        elif fault == "masked":
            self.s.sendall(frame(2, connack, mask=True))
        elif fault == "text":
            self.s.sendall(frame(1, connack))
        elif fault == "rsv":
            data = frame(2, connack)
            self.s.sendall(bytes([data[0] | 0x40]) + data[1:])
        elif fault == "opcode":
            self.s.sendall(frame(3, connack))
        elif fault == "ping-in-fragments":
            self.ping = b"between fragments"
            self.s.sendall(frame(2, connack[:2], fin=False) + frame(9, self.ping) + frame(0, connack[2:]))
        elif fault == "empty-frames":
            self.s.sendall(frame(2, b"") + frame(2, connack) + frame(2, b""))
        elif fault == "big-ping":
            self.s.sendall(frame(9, b"p" * 126) + frame(2, connack))
        elif fault == "lone-continuation":
            self.s.sendall(frame(0, connack))
        elif fault == "fragmented":
            self.s.sendall(frame(2, connack[:1], fin=False) + frame(0, connack[1:2], fin=False) +
                           frame(0, connack[2:], fin=True))
        elif fault == "coalesced":
            pub = mqtt_packet(3, 0, mqtt_str(b"fault/coalesced") + b"carried with the CONNACK")
            self.send(connack + pub)
        elif fault == "close":
            self.s.sendall(frame(8, struct.pack("!H", 1001) + b"going away"))
            log(self.n, "sent CLOSE 1001")
        else:
            self.send(connack)
        if fault == "ping":
            self.ping = b"ping-payload-123"
            self.s.sendall(frame(9, self.ping))
            log(self.n, "sent PING")

    def on_publish(self, flags, body):
        qos = (flags >> 1) & 3
        tlen = struct.unpack("!H", body[:2])[0]
        topic = body[2:2 + tlen]
        rest = body[2 + tlen:]
        pid = rest[:2] if qos else b""
        payload = rest[2:] if qos else rest
        log(self.n, "mqtt PUBLISH qos %d topic %s payload %d bytes" % (qos, topic.decode(), len(payload)))
        if qos == 1:
            self.send(mqtt_packet(4, 0, pid))
        elif qos == 2:
            self.send(mqtt_packet(5, 0, pid))
        if self.subscribed:  # back at the same QoS (the filter's is at least as high here)
            self.next_id = self.next_id % 65535 + 1
            out_id = struct.pack("!H", self.next_id) if qos else b""
            self.send(mqtt_packet(3, qos << 1, mqtt_str(topic) + out_id + payload))

    def on_packet(self, ptype, flags, body):
        if ptype == 1:
            self.on_connect(body)
        elif ptype == 3:
            self.on_publish(flags, body)
        elif ptype == 4 or ptype == 7:
            log(self.n, "mqtt %s %d" % ("PUBACK" if ptype == 4 else "PUBCOMP", struct.unpack("!H", body[:2])[0]))
        elif ptype == 5:
            self.send(mqtt_packet(6, 2, body[:2]))
        elif ptype == 6:
            self.send(mqtt_packet(7, 0, body[:2]))
        elif ptype == 8:
            pid, pos, granted = body[:2], 2, b""
            while pos < len(body):
                flen = struct.unpack("!H", body[pos:pos + 2])[0]
                log(self.n, "mqtt SUBSCRIBE %s" % body[pos + 2:pos + 2 + flen].decode())
                granted += bytes([body[pos + 2 + flen] & 3])
                pos += 3 + flen
            self.subscribed = True
            self.send(mqtt_packet(9, 0, pid + granted))
        elif ptype == 12:
            log(self.n, "mqtt PINGREQ")
            self.send(mqtt_packet(13, 0, b""))
        elif ptype == 14:
            log(self.n, "mqtt DISCONNECT")
        else:
            log(self.n, "mqtt packet type %d" % ptype)

    def run(self):
        buf, message = b"", None
        while True:
            fin, opcode, data = read_frame(self.n, self.s)
            if opcode == 8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 0
                log(self.n, "client CLOSE code %d" % code)
                if self.args.fault != "close":
                    self.s.sendall(frame(8, data[:2]))
                return
            if opcode == 9:
                self.s.sendall(frame(10, data))
                continue
            if opcode == 10:
                ok = getattr(self, "ping", None) == data
                log(self.n, "PONG %s" % ("ok: same payload" if ok else "ERROR payload %r" % data))
                continue
            if opcode == 1:
                log(self.n, "ERROR text frame from the client")
            if opcode not in (0, 2):
                log(self.n, "ERROR opcode %d" % opcode)
                continue
            if opcode == 2 and message is not None:
                log(self.n, "ERROR new message inside a fragmented one")
            message = (message or b"") + data
            if not fin:
                continue
            buf += message
            message = None
            packets, buf = split_packets(buf)
            for p in packets:
                self.on_packet(*p)
            if buf and self.args.fault == "ping-mid" and not hasattr(self, "ping"):
                self.ping = b"mid-message"
                self.s.sendall(frame(9, self.ping))
                log(self.n, "sent PING with %d bytes of a packet in" % len(buf))


CONNACK = mqtt_packet(2, 0, b"\x00\x00")


class RawMqtt(WsMqtt):
    """The same broker over the bare stream (behind a proxy)."""

    def send(self, data):
        self.s.sendall(data)

    def run(self):
        buf = b""
        while True:
            data = self.s.recv(65536)
            if not data:
                return
            packets, buf = split_packets(buf + data)
            for p in packets:
                self.on_packet(*p)
                if p[0] == 14:
                    return


def ws_answer(head, args):
    headers = {}
    for line in head.split("\r\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    key = headers.get("sec-websocket-key", "")
    accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
    fault = args.fault or ""
    if fault.startswith("status:"):
        code = int(fault[7:])
        return (b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n" % (code, REASONS.get(code, "Status").encode()),
                headers, False)
    if fault == "bad-accept":
        accept = base64.b64encode(hashlib.sha1(b"not the key" + GUID).digest())
    if fault == "lowercase":
        answer = b"HTTP/1.1 101 switching protocols\r\nupgrade: WebSocket\r\nconnection: upgrade\r\n"
        answer += b"sec-websocket-accept: " + accept + b"\r\nSEC-WEBSOCKET-PROTOCOL: mqtt\r\n"
        return answer + b"\r\n", headers, True
    answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    answer += b"Sec-WebSocket-Accept: " + accept + b"\r\n"
    if fault == "extension":
        answer += b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
    if fault == "no-upgrade":
        answer = answer.replace(b"Upgrade: websocket\r\n", b"")
    if fault == "no-connection":
        answer = answer.replace(b"Connection: Upgrade\r\n", b"")
    if fault == "other-protocol":
        answer += b"Sec-WebSocket-Protocol: mqttv3.1\r\n"
    elif fault != "no-protocol":
        answer += b"Sec-WebSocket-Protocol: mqtt\r\n"
    return answer + b"\r\n", headers, True


def ws(n, s, args):
    head = recv_head(s).decode("latin-1")
    answer, headers, upgraded = ws_answer(head, args)
    log(n, "upgrade %s" % head.split("\r\n")[0])
    for name in ("host", "upgrade", "connection", "sec-websocket-version", "sec-websocket-protocol"):
        log(n, "header %s: %s" % (name, headers.get(name, "(none)")))
    for name, value in headers.items():
        if name.startswith("x-"):
            log(n, "header %s: %s" % (name, value))
    if len(base64.b64decode(headers.get("sec-websocket-key", ""))) != 16:
        log(n, "ERROR Sec-WebSocket-Key is not 16 bytes in base64")
    if args.fault == "silent":
        return wait_for_end(n, s)
    if upgraded and args.early:
        s.sendall(answer + frame(2, CONNACK))
    else:
        send(s, answer, args.slow)
    if not upgraded:
        return
    WsMqtt(n, s, args).run()


def serve(n, s, args):
    try:
        {"socks5": socks5, "http": http, "ws": ws}[args.kind](n, s, args)
    except (Closed, OSError) as e:
        log(n, "ended (%s)" % (type(e).__name__))
    finally:
        s.close()
    log(n, "closed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["socks5", "http", "ws"])
    ap.add_argument("--fault")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--slow", action="store_true")
    ap.add_argument("--bnd", choices=["ipv4", "ipv6", "domain"], default="ipv4")
    ap.add_argument("--http10", action="store_true")
    ap.add_argument("--long-header", action="store_true")
    ap.add_argument("--many-headers", action="store_true")
    ap.add_argument("--early", action="store_true")
    args = ap.parse_args()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    print("listening on 127.0.0.1:%d" % ls.getsockname()[1], flush=True)
    n = 0
    while True:
        s, _ = ls.accept()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        n += 1
        threading.Thread(target=serve, args=(n, s, args), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
