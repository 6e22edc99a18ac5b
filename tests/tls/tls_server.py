#!/usr/bin/env python3
"""tests/tls/tls_server.py - the server side of TLS tests that a broker cannot play.

    tls_server.py record CERT KEY   a TLS server that answers nothing: for each connection
                                    it logs whether the handshake completed and how many
                                    application bytes arrived before the client left:
                                    "connection N: handshake ok, application bytes M"
    tls_server.py stall             a TCP server that accepts and never says a word

Listens on a free loopback port and prints "listening on 127.0.0.1:PORT" first. Runs until
killed; one connection at a time (the tests make them one after the other).
"""
import socket
import ssl
import sys


def listen():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)
    return s


def record_one(ctx, conn, n):
    conn.settimeout(60)
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        print("connection %d: handshake failed (%s)" % (n, e), flush=True)
        conn.close()
        return
    received = 0
    while True:
        try:
            data = tls.recv(65536)
        except (ssl.SSLError, OSError):
            break
        if not data:
            break
        received += len(data)
    print("connection %d: handshake ok, application bytes %d" % (n, received), flush=True)
    tls.close()


def record(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s = listen()
    n = 0
    while True:
        conn, _ = s.accept()
        n += 1
        record_one(ctx, conn, n)


def stall():
    s = listen()
    held = []
    while True:
        conn, _ = s.accept()
        held.append(conn)  # kept open, never written to


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2 and sys.argv[1] == "stall":
        stall()
    else:
        sys.exit(__doc__)
