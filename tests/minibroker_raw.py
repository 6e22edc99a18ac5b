#!/usr/bin/env python3
"""tests/minibroker_raw.py - a raw MQTT client for the minibroker suites: every byte it sends
is written here from the spec, and MQTT 5 packets it receives are parsed here too, so a bug
shared by the broker's codec and mqttc.h cannot hide (a round trip through one codec would).

usage: minibroker_raw.py [--lines] PORT STEP...
Steps are "CONN:cmd,arg,..." (CONN names a connection, opened on first use). Each step that
observes something prints one token; tokens are joined by spaces (--lines: one per line).

MQTT 3.1.1:
  connect,ID,KEEPALIVE[,WILLTOPIC,WILLMSG][,clean0]  -> "connack=<hex>" (other steps connect bare)
  publish,TOPIC,PAYLOAD,QOS,ID[,dup] | subscribe,ID,FILTER,QOS | unsubscribe,ID,FILTER
  pubrel,ID | puback,ID | ping | disconnect | close | send,HEX | sleep,S
  bigpublish,TOPIC,BYTES,ID (QoS 1)
  read,TIMEOUT  -> one whole packet in hex, "eof" or "timeout"
  eof,TIMEOUT   -> "eof" when the broker closes within TIMEOUT s (packets before are skipped), else "open"
  eofat,LO,HI   -> "eof-in-window" when it closes between LO and HI s from this step, else "eof@T"/"open"
MQTT 5 (PROPS are NAME=VALUE items, the names of minibroker's -v log; user-property=K:V):
  connect5,ID,KEEPALIVE[,clean0][,user=U][,pass=P][,will=TOPIC:MSG][,willqos=Q][,willretain]
          [,w.PROP...][,PROP...]          -> the first packet back, parsed (CONNACK or AUTH)
  pub5,TOPIC,PAYLOAD,QOS,ID[,retain][,PROP...]   (TOPIC may be empty: with a topic-alias)
  sub5,ID,FILTER:OPTIONS[,FILTER:OPTIONS...][,PROP...]   (OPTIONS: the byte, 0x.. or decimal)
  unsub5,ID,FILTER[,FILTER...]
  ack5,puback|pubrec|pubrel|pubcomp,ID[,CODE]   (no CODE: the two-byte short form)
  auth5,CODE[,PROP...] | disc5[,CODE][,PROP...] (disc5 closes the socket after)
  readp,TIMEOUT    -> one packet parsed: "PUBLISH q1 id=1 topic=t {props} payload=..."
  readsize,TIMEOUT -> "size=N": the whole packet's size in bytes
  bigpub5,TOPIC,BYTES                          (QoS 0, payload of 'x')
"""
import socket, struct, sys, time

# ---- encoding ----
def s16(b): return struct.pack(">H", len(b)) + b
def varint(n):
    r = b""
    while True:
        d, n = n % 128, n // 128
        r += bytes([d | (128 if n else 0)])
        if not n: return r
def pkt(first, body): return bytes([first]) + varint(len(body)) + body
def num(s): return int(s, 16) if s.lower().startswith("0x") else int(s)

# MQTT 5 properties [MQTT-2.2.2.2]: id, name, type (B byte, 2, 4, V varint, S string, D binary, P pair)
PROPS = [(0x01, "payload-format-indicator", "B"), (0x02, "message-expiry-interval", "4"),
         (0x03, "content-type", "S"), (0x08, "response-topic", "S"), (0x09, "correlation-data", "D"),
         (0x0B, "subscription-identifier", "V"), (0x11, "session-expiry-interval", "4"),
         (0x12, "assigned-client-identifier", "S"), (0x13, "server-keep-alive", "2"),
         (0x15, "authentication-method", "S"), (0x16, "authentication-data", "D"),
         (0x17, "request-problem-information", "B"), (0x18, "will-delay-interval", "4"),
         (0x19, "request-response-information", "B"), (0x1A, "response-information", "S"),
         (0x1C, "server-reference", "S"), (0x1F, "reason-string", "S"), (0x21, "receive-maximum", "2"),
         (0x22, "topic-alias-maximum", "2"), (0x23, "topic-alias", "2"), (0x24, "maximum-qos", "B"),
         (0x25, "retain-available", "B"), (0x26, "user-property", "P"), (0x27, "maximum-packet-size", "4"),
         (0x28, "wildcard-subscription-available", "B"), (0x29, "subscription-identifier-available", "B"),
         (0x2A, "shared-subscription-available", "B")]
BY_NAME = {name: (pid, t) for pid, name, t in PROPS}
BY_ID = {pid: (name, t) for pid, name, t in PROPS}

def prop(item):
    name, _, value = item.partition("=")
    pid, t = BY_NAME[name]
    if t == "B": v = bytes([num(value)])
    elif t == "2": v = struct.pack(">H", num(value))
    elif t == "4": v = struct.pack(">I", num(value))
    elif t == "V": v = varint(num(value))
    elif t == "P": k, _, val = value.partition(":"); v = s16(k.encode()) + s16(val.encode())
    else: v = s16(value.encode())
    return bytes([pid]) + v
def props(items):
    body = b"".join(prop(i) for i in items)
    return varint(len(body)) + body
def is_prop(item): return "=" in item and item.partition("=")[0] in BY_NAME

# ---- MQTT 3.1.1 packets ----
def connect(cid, ka, *rest):
    flags, payload = 0x02, s16(cid.encode())
    rest = list(rest)
    if "clean0" in rest: rest.remove("clean0"); flags = 0
    if rest: flags |= 0x04; payload += s16(rest[0].encode()) + s16(rest[1].encode())
    return pkt(0x10, s16(b"MQTT") + bytes([4, flags]) + struct.pack(">H", int(ka)) + payload)
def publish(topic, payload, qos, pid, dup=""):
    q = int(qos); first = 0x30 | (q << 1) | (8 if dup else 0)
    return pkt(first, s16(topic.encode()) + (struct.pack(">H", int(pid)) if q else b"") + payload.encode())

# ---- MQTT 5 packets [MQTT-3.1] ... ----
def connect5(cid, ka, *rest):
    flags, cprops, wprops, opts = 0x02, [], [], {}
    for r in rest:
        if r == "clean0": flags &= ~0x02
        elif r == "willretain": opts["willretain"] = 1
        elif r.startswith("w."): wprops.append(r[2:])
        elif is_prop(r): cprops.append(r)
        else: k, _, v = r.partition("="); opts[k] = v
    payload = s16(cid.encode())
    if "will" in opts:
        t, _, m = opts["will"].partition(":")
        flags |= 0x04 | (int(opts.get("willqos", 0)) << 3) | (0x20 if "willretain" in opts else 0)
        payload += props(wprops) + s16(t.encode()) + s16(m.encode())
    if "user" in opts: flags |= 0x80; payload += s16(opts["user"].encode())
    if "pass" in opts: flags |= 0x40; payload += s16(opts["pass"].encode())
    head = s16(b"MQTT") + bytes([5, flags]) + struct.pack(">H", int(ka)) + props(cprops)
    return pkt(0x10, head + payload)
def pub5(topic, payload, qos, pid, *rest):
    q, items = int(qos), [r for r in rest if is_prop(r)]
    first = 0x30 | (q << 1) | (1 if "retain" in rest else 0)
    return pkt(first, s16(topic.encode()) + (struct.pack(">H", int(pid)) if q else b"") + props(items) + payload.encode())
def sub5(pid, *rest):
    items = [r for r in rest if is_prop(r)]
    body = b""
    for r in rest:
        if is_prop(r): continue
        f, _, o = r.rpartition(":")
        body += s16(f.encode()) + bytes([num(o)])
    return pkt(0x82, struct.pack(">H", int(pid)) + props(items) + body)
def unsub5(pid, *filters):
    return pkt(0xa2, struct.pack(">H", int(pid)) + props([]) + b"".join(s16(f.encode()) for f in filters))
ACKS = {"puback": 0x40, "pubrec": 0x50, "pubrel": 0x62, "pubcomp": 0x70}
def ack5(kind, pid, code=None):
    body = struct.pack(">H", int(pid)) + (bytes([num(code)]) if code is not None else b"")
    return pkt(ACKS[kind], body)
def auth5(code, *items): return pkt(0xf0, bytes([num(code)]) + props(items))
def disc5(*rest):
    if not rest: return b"\xe0\x00"
    return pkt(0xe0, bytes([num(rest[0])]) + props(rest[1:]))

# ---- MQTT 5 parsing, for readp ----
def text(b):
    return "".join(chr(c) if 0x20 <= c < 0x7f and c != 0x5c else "\\x%02x" % c for c in b)
def get_varint(b, i):
    n, mul = 0, 1
    while True:
        n += (b[i] & 127) * mul; mul *= 128; i += 1
        if not b[i - 1] & 128: return n, i
def get_str(b, i):
    n = struct.unpack(">H", b[i:i + 2])[0]
    return b[i + 2:i + 2 + n], i + 2 + n
def parse_props(b, i):
    n, i = get_varint(b, i)
    end, out = i + n, []
    while i < end:
        pid = b[i]; i += 1
        name, t = BY_ID.get(pid, ("0x%02x" % pid, "?"))
        if t == "B": v = str(b[i]); i += 1
        elif t == "2": v = str(struct.unpack(">H", b[i:i + 2])[0]); i += 2
        elif t == "4": v = str(struct.unpack(">I", b[i:i + 4])[0]); i += 4
        elif t == "V": n2, i = get_varint(b, i); v = str(n2)
        elif t == "P": k, i = get_str(b, i); val, i = get_str(b, i); v = text(k) + ":" + text(val)
        elif t in "SD": s, i = get_str(b, i); v = text(s)
        else: return "{unparsable}", end
        out.append(name + "=" + v)
    return ("{" + ",".join(out) + "}") if out else "", end
def parse5(p):
    t, flags = p[0] >> 4, p[0] & 15
    _, i = get_varint(p, 1)
    names = {2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP", 9: "SUBACK",
             11: "UNSUBACK", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}
    out = [names.get(t, "TYPE%d" % t)]
    if t == 2:
        out += ["sp=%d" % p[i], "rc=0x%02x" % p[i + 1]]
        pr, i = parse_props(p, i + 2); out.append(pr)
    elif t == 3:
        q = (flags >> 1) & 3
        topic, i = get_str(p, i)
        out.append("q%d" % q)
        if q: out.append("id=%d" % struct.unpack(">H", p[i:i + 2])[0]); i += 2
        if flags & 1: out.append("retain")
        if flags & 8: out.append("dup")
        out.append("topic=" + text(topic))
        pr, i = parse_props(p, i); out.append(pr)
        out.append("payload=" + text(p[i:]))
    elif t in (4, 5, 6, 7):
        out.append("id=%d" % struct.unpack(">H", p[i:i + 2])[0]); i += 2
        out.append("rc=0x%02x" % (p[i] if i < len(p) else 0))
        if i + 1 < len(p): pr, i = parse_props(p, i + 1); out.append(pr)
    elif t in (9, 11):
        out.append("id=%d" % struct.unpack(">H", p[i:i + 2])[0])
        pr, i = parse_props(p, i + 2); out.append(pr)
        out.append("codes=" + ",".join("%02x" % c for c in p[i:]))
    elif t in (14, 15):
        out.append("rc=0x%02x" % (p[i] if i < len(p) else 0))
        if i + 1 < len(p): pr, i = parse_props(p, i + 1); out.append(pr)
    return " ".join(x for x in out if x)

# ---- the connection ----
def recv_exact(s, n, deadline):
    b = b""
    while len(b) < n:
        s.settimeout(max(0.001, deadline - time.time()))
        try: c = s.recv(n - len(b))
        except socket.timeout: return None
        except ConnectionResetError: c = b""
        if not c: return b""
        b += c
    return b
def read_packet(s, timeout):
    deadline = time.time() + timeout
    h = recv_exact(s, 1, deadline)
    if not h: return h
    n, mul = 0, 1
    while True:
        d = recv_exact(s, 1, deadline)
        if not d: return d
        h += d; n += (d[0] & 127) * mul; mul *= 128
        if not d[0] & 128: break
    body = recv_exact(s, n, deadline)
    return body if not body and n else h + body
def wait_eof(s, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        p = read_packet(s, deadline - time.time())
        if p == b"": return True
        if p is None: return False
    return False
def shown(p, parse):
    if p is None: return "timeout"
    if p == b"": return "eof"
    return parse(p) if parse else p.hex()

SENDERS = {"publish": publish, "pub5": pub5, "sub5": sub5, "unsub5": unsub5, "ack5": ack5, "auth5": auth5}
def run(port, steps):
    conns, out = {}, []
    for step in steps:
        name, _, rest = step.partition(":")
        cmd, *a = rest.split(",")
        s = conns.get(name)
        if s is None and cmd not in ("connect", "connect5"): s = conns[name] = socket.create_connection(("127.0.0.1", port))
        if cmd in ("connect", "connect5"):
            s = conns[name] = socket.create_connection(("127.0.0.1", port))
            s.sendall(connect(*a) if cmd == "connect" else connect5(*a))
            p = read_packet(s, 3)
            out.append("connack=" + shown(p, None) if cmd == "connect" else shown(p, parse5))
        elif cmd in SENDERS: s.sendall(SENDERS[cmd](*a))
        elif cmd == "bigpublish": s.sendall(pkt(0x32, s16(a[0].encode()) + struct.pack(">H", int(a[2])) + b"x" * int(a[1])))
        elif cmd == "bigpub5": s.sendall(pkt(0x30, s16(a[0].encode()) + b"\x00" + b"x" * int(a[1])))
        elif cmd == "unsubscribe": s.sendall(pkt(0xa2, struct.pack(">H", int(a[0])) + s16(a[1].encode())))
        elif cmd == "subscribe": s.sendall(pkt(0x82, struct.pack(">H", int(a[0])) + s16(a[1].encode()) + bytes([int(a[2])])))
        elif cmd == "pubrel": s.sendall(pkt(0x62, struct.pack(">H", int(a[0]))))
        elif cmd == "puback": s.sendall(pkt(0x40, struct.pack(">H", int(a[0]))))
        elif cmd == "ping": s.sendall(b"\xc0\x00")
        elif cmd == "disconnect": s.sendall(b"\xe0\x00"); s.close()
        elif cmd == "disc5": s.sendall(disc5(*a)); s.close()
        elif cmd == "close": s.close()
        elif cmd == "send": s.sendall(bytes.fromhex(a[0]))
        elif cmd == "sleep": time.sleep(float(a[0]))
        elif cmd == "read": out.append(shown(read_packet(s, float(a[0])), None))
        elif cmd == "readp": out.append(shown(read_packet(s, float(a[0])), parse5))
        elif cmd == "readsize": out.append(shown(read_packet(s, float(a[0])), lambda p: "size=%d" % len(p)))
        elif cmd == "eof": out.append("eof" if wait_eof(s, float(a[0])) else "open")
        elif cmd == "eofat":
            t0 = time.time(); closed = wait_eof(s, float(a[1]) + 1); t = time.time() - t0
            out.append(("eof-in-window" if float(a[0]) <= t <= float(a[1]) else "eof@%.2f" % t) if closed else "open")
        else: sys.exit("unknown step " + step)
    return out

if __name__ == "__main__":
    args = sys.argv[1:]
    lines = args and args[0] == "--lines"
    if lines: args = args[1:]
    print(("\n" if lines else " ").join(run(int(args[0]), args[1:])))
