#!/usr/bin/env python3
"""tests/scripted_broker.py - a broker that plays one script, for the command-line tools'
tests (t_window.sh). It listens on 127.0.0.1 (a free port, written to READY_FILE once it
listens) and logs each packet it receives, one line each ("CONNECT", "PUBREC 1",
"DISCONNECT", "EOF" when the client closes), to LOG_FILE; with "conn N", "accepted N at MS"
and "closed N at MS" (wall-clock milliseconds) around each connection.

    scripted_broker.py SCENARIO READY_FILE LOG_FILE [N]

Scenarios:
  silent     reads what clients send and answers nothing: a CONNECT never gets its CONNACK
  backlog    a listener whose accept queue is full: a TCP connect to it stays pending
  malformed  the first connection gets CONNACK, SUBACK, then a malformed packet; every later
             connection (the client's reconnect) is silent
  qos2       CONNACK, SUBACK, then N (default 1) PUBLISH at QoS 2 (ids 1..N, payloads
             "m1".."mN") in one write; each PUBREC is answered with PUBREL 0.3 s later
             [MQTT-4.3.3-1]; ends when the client closes
  acks       CONNACK; each QoS 1 PUBLISH gets its PUBACK, each QoS 2 its PUBREC and each
             PUBREL its PUBCOMP, 0.3 s late (logged as "> PUBACK 1" ...); ends when the
             client closes
  noacks     CONNACK; PUBLISH is never acknowledged
The acknowledgements a scenario sends are logged too, as "> TYPE id".
Every scenario ends by itself after 60 s, so a test can never hang on it."""
import os
import select
import socket
import sys
import time

NAMES = ["?", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
         "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT"]
# A PUBLISH whose topic "a\xC0\x80" is not well-formed UTF-8 (an overlong encoding of NUL):
# malformed [MQTT-1.5.3-1], so the client closes the connection [MQTT-4.8.0-1]. mosquitto_sub
# then reconnects (a bad length, by contrast, makes libmosquitto give up: exit 2).
MALFORMED = bytes([0x30, 0x05, 0x00, 0x03, 0x61, 0xC0, 0x80])
LIFETIME_S = 60


def now_ms():
    return int(time.time() * 1000)


class Conn:
    def __init__(self, sock, log, number):
        self.sock, self.log, self.number, self.buf, self.closed = sock, log, number, b"", False

    def packets(self):
        """Reads what is there; returns the complete packets as (type, flags, body)."""
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.closed = True
            self.log("EOF")
            self.log("closed %d at %d" % (self.number, now_ms()))
            return []
        self.buf += data
        out = []
        while True:
            if len(self.buf) < 2:
                return out
            length, mult, i = 0, 1, 1
            while i < len(self.buf) and i <= 4:
                length += (self.buf[i] & 0x7F) * mult
                mult *= 128
                if not self.buf[i] & 0x80:
                    break
                i += 1
            else:
                return out
            end = i + 1 + length
            if len(self.buf) < end:
                return out
            ptype, flags, body = self.buf[0] >> 4, self.buf[0] & 15, self.buf[i + 1:end]
            self.buf = self.buf[end:]
            line = NAMES[ptype] if ptype < len(NAMES) else "TYPE%d" % ptype
            if ptype in (4, 5, 6, 7):
                line += " %d" % int.from_bytes(body[:2], "big")
            self.log(line)
            out.append((ptype, flags, body))

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            pass


def suback(body):
    """SUBACK for a SUBSCRIBE body: each filter granted the QoS it asked for."""
    pid, pos, codes = body[:2], 2, b""
    while pos + 2 <= len(body):
        flen = int.from_bytes(body[pos:pos + 2], "big")
        pos += 2 + flen
        codes += bytes([body[pos] & 3])
        pos += 1
    return bytes([0x90, 2 + len(codes)]) + pid + codes


def first_filter(body):
    flen = int.from_bytes(body[2:4], "big")
    return body[4:4 + flen]


def publish_qos2(topic, pid, payload):
    rest = len(topic).to_bytes(2, "big") + topic + pid.to_bytes(2, "big") + payload
    return bytes([0x34, len(rest)]) + rest  # short packets: a one-byte remaining length


def main():
    scenario, ready, log_path = sys.argv[1], sys.argv[2], sys.argv[3]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    log_file = open(log_path, "a", buffering=1)

    def log(line):
        log_file.write(line + "\n")

    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    fillers = []  # kept open: they fill the accept queue
    if scenario == "backlog":
        # Linux drops a SYN while the accept queue is full, so a connect stays in SYN_SENT
        # (retried at 1, 3, 7 s ...). Fill the queue with our own connects, never accepted.
        lsock.listen(0)
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.2)
    else:
        lsock.listen(8)
    with open(ready + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(ready + ".tmp", ready)

    deadline = time.time() + LIFETIME_S
    conns, later, accepted = [], [], 0

    def ack_later(conn, ptype, pid):  # an acknowledgement 0.3 s from now
        later.append((time.time() + 0.3, conn, ptype, pid))

    while time.time() < deadline:
        timeout = 0.5
        if later:
            timeout = max(0.0, min(timeout, min(t for t, _, _, _ in later) - time.time()))
        rlist = [c.sock for c in conns if not c.closed]
        if scenario != "backlog":
            rlist.append(lsock)
        ready_socks = select.select(rlist, [], [], timeout)[0]
        now = time.time()
        for due, conn, ptype, pid in [p for p in later if p[0] <= now]:
            flags = 2 if ptype == 6 else 0  # PUBREL's reserved flags are 0010 [MQTT-3.6.1-1]
            conn.send(bytes([ptype << 4 | flags, 0x02]) + pid.to_bytes(2, "big"))
            log("> %s %d" % (NAMES[ptype], pid))
        later = [p for p in later if p[0] > now]
        if lsock in ready_socks:
            sock, _ = lsock.accept()
            accepted += 1
            log("conn %d" % accepted)
            log("accepted %d at %d" % (accepted, now_ms()))
            conns.append(Conn(sock, log, accepted))
        for conn in [c for c in conns if c.sock in ready_socks]:
            for ptype, flags, body in conn.packets():
                if scenario == "silent" or (scenario == "malformed" and conn.number > 1):
                    continue
                if ptype == 1:
                    conn.send(bytes([0x20, 0x02, 0x00, 0x00]))
                elif ptype == 8:
                    conn.send(suback(body))
                    if scenario == "malformed":
                        conn.send(MALFORMED)
                    elif scenario == "qos2":
                        topic = first_filter(body)
                        conn.send(b"".join(publish_qos2(topic, i, b"m%d" % i) for i in range(1, count + 1)))
                elif ptype == 3 and scenario == "acks" and (flags >> 1) & 3:
                    qos = (flags >> 1) & 3
                    tlen = int.from_bytes(body[:2], "big")
                    ack_later(conn, 4 if qos == 1 else 5, int.from_bytes(body[2 + tlen:4 + tlen], "big"))
                elif ptype == 5 and scenario == "qos2":
                    ack_later(conn, 6, int.from_bytes(body[:2], "big"))
                elif ptype == 6 and scenario == "acks":
                    ack_later(conn, 7, int.from_bytes(body[:2], "big"))
                elif ptype == 12:
                    conn.send(bytes([0xD0, 0x00]))
            if conn.closed:
                conn.sock.close()
                if scenario in ("qos2", "acks", "noacks"):
                    return
    log("lifetime over")


if __name__ == "__main__":
    main()
