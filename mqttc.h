/* mqttc.h - an MQTT 3.1.1 and 5.0 client for C in one header.           v0.1.0 (MQTTC_VERSION_*)

   Do this in exactly one C or C++ file:
       #define MQTTC_IMPLEMENTATION
       #include "mqttc.h"
   Every other file includes it without the define.

QUICK START
    #define MQTTC_IMPLEMENTATION
    #include "mqttc.h"
    #include <stdio.h>

    static void on_message(mqttc_client *c, const mqttc_message *m, void *user) {
        (void)c; (void)user;
        printf("%s %.*s\n", m->topic, (int)m->payload_len, (const char *)m->payload);
    }
    int main(void) {
        mqttc_client c;
        mqttc_options o = {0};
        o.on_message = on_message;
        mqttc_init(&c, &o);
        int rc = mqttc_connect(&c, "localhost", 1883);         // blocks until CONNACK
        if (rc == MQTTC_OK) rc = mqttc_subscribe(&c, "sensors/#", 1, NULL, NULL, NULL, NULL);
        if (rc == MQTTC_OK) rc = mqttc_publish(&c, "sensors/hello", "hi", 2, 1, 0, NULL);
        if (rc == MQTTC_OK) rc = mqttc_run(&c);                // until the connection ends
        printf("ended: %s\n", mqttc_errname(rc));
        mqttc_deinit(&c);
        return 0;
    }

CONTENTS
    1. compile-time options       5. memory and buffers      9. threads and re-entrancy
    2. layers                     6. errors                 10. API list
    3. the connection states      7. time and keepalive
    4. the poll loop              8. transports             11. MQTT 5
                                                              12. staying connected
                                                              13. a durable store

1. COMPILE-TIME OPTIONS (define before the include)
    MQTTC_IMPLEMENTATION    -         implementation file only: emit the code
    MQTTC_STATIC            off       global: every function `static` (one translation unit)
    MQTTC_DEF               extern    global: the storage class of every API function (yours
                                      to set: visibility attributes, dllexport, ...)
    MQTTC_ASSERT(x)         assert(x) implementation file only
    MQTTC_MALLOC(n)         malloc    implementation file only; with MQTTC_REALLOC and
    MQTTC_REALLOC(p, n)     realloc   MQTTC_FREE, all of mqttc's allocation goes through
    MQTTC_FREE(p)           free      these three (OpenSSL's does not: section 5). A client
                                      given options.mem calls them only for the TLS, proxy
                                      and WebSocket stages' state, once per connection.
    MQTTC_NO_SOCKETS        off       implementation file only: leave out the built-in TCP
                                      transport, the WebSocket and proxy stages and the
                                      blocking layer (bare-metal; bring a transport of your own)
    MQTTC_DEFAULT_MAX_PACKET 16 MiB   global: default limit on an incoming packet's size
    MQTTC_DEFAULT_MAX_INFLIGHT 20     global: default window of outgoing QoS 1/2 messages;
                                      mosquitto drops QoS 2 beyond its 20 (see below)
    MQTTC_NO_RECONNECT      off       implementation file only: no staying connected (section
                                      12): no automatic reconnect, no queue, and a lost
                                      session's messages are dropped (the small build)
    MQTTC_NO_MQTT5          off       global: MQTT 3.1.1 only (the small build): the MQTT 5
                                      functions are not declared, protocol_version 5 is
                                      MQTTC_ERR_ARG
    MQTTC_NO_WEBSOCKET      off       implementation file only: no WebSocket stage (ws://, wss://,
                                      options.ws_path are MQTTC_ERR_ARG)
    MQTTC_NO_PROXY          off       implementation file only: no SOCKS5 / HTTP CONNECT stage
                                      (options.proxy is MQTTC_ERR_ARG). The small build is
                                      MQTTC_NO_MQTT5 MQTTC_NO_RECONNECT MQTTC_NO_WEBSOCKET
                                      MQTTC_NO_PROXY MQTTC_NO_STORE MQTTC_NO_INDEX: under
                                      12 KiB of .text for a publisher
    MQTTC_NO_STORE          off       global: no durable store (options.store is MQTTC_ERR_ARG,
                                      the file store is not declared); part of the small build
    MQTTC_NO_INDEX          off       implementation file only: in-flight records are found by
                                      a scan and removal moves the rest down: O(window) per
                                      message, the code of a window of 20; part of the small
                                      build (default: O(1) at any window, >>session)
    MQTTC_WS_FRAME          65536     implementation file only: the largest WebSocket frame we
                                      send (payload bytes); output is masked in a buffer that
                                      grows to it from 4 KiB as the writes need
    MQTTC_WITH_OPENSSL      off       implementation file only: TLS (options.secure) through
                                      OpenSSL 1.1.1 or 3.x; link -lssl -lcrypto. Without it
                                      the header needs nothing beyond libc

2. LAYERS. The implementation reads top to bottom; each section calls only those above it
   and uses no name defined below it (`grep '^/\* >>' mqttc.h` prints the map):
    >>util       big-endian, varint, UTF-8 and topic rules
    >>codec      encode and decode every MQTT 3.1.1 and 5.0 packet from and into its info
                 struct (mqttc_publish_info, mqttc_ack_info, ...), MQTT 5 properties read
                 in place and written from the caller's: no I/O, no clock, no allocation
    >>session    packet ids, in-flight records (both directions), per-filter handlers
    >>transport  the stages of a connection, each a mqttc_transport wrapping the one below:
                 TCP to the next hop (its connect is its handshake)
    >>tls        (MQTTC_WITH_OPENSSL) the TLS stage, naming the target broker; then the
                 chain: which stages stack, in which order. Adding a stage (a proxy,
                 WebSocket) changes the chain, never the client
    >>client     the state machine, driven by mqttc_step(now_ms): never blocks; it knows
                 only the top stage's handshake, send, recv and close
    >>blocking   mqttc_wait (poll(2)), and mqttc_connect / _connect_wait / _run / _run_for
                 stepping around it; it wakes its loop through the client's wake hook
    >>filestore  the bundled durable store (section 13): a checksummed log per client id

3. THE CONNECTION STATES (mqttc_state(), in lifecycle order; mqttc__transitions is the
   table, and a move it does not allow trips MQTTC_ASSERT)

      IDLE --connect_start / adopt_fd / start_transport--> HANDSHAKE --done--> CONNACK_WAIT
        (a transport with no handshake: straight to CONNACK_WAIT)         |
                                                                          | CONNACK 0
                                                                          v
      CLOSED <------------- any fatal error, timeout, EOF ----------------- CONNECTED
        ^                                                                     |
        |                                                      mqttc_disconnect()
        |                                    QoS 1/2 flows open |             | none open
        |                                                       v             |
        |                      DRAINING: the open flows finish (acks both ways)  |
        |                                   | done, or disconnect_timeout_ms  |
        |                                   v                                 v
        +------------ DISCONNECTING: DISCONNECT written, then the next step closes
                      (error "disconnect"; "timeout" when the drain did not finish)

   HANDSHAKE is the transport chain's: the TCP connect (each address in turn), then TLS.
   options.on_status hears of every change that matters to a reconnect policy: CONNECTED,
   CONNECT_FAILED (before CONNACK was accepted) and CONNECTION_LOST, each with the error and
   the broker's reason code, told after the call it happened in.
   CLOSED keeps the first fatal error (sticky) until the next connect. A client in CLOSED
   may connect again; the session's messages then go as section 12 says.
   With options.reconnect_min_ms a loss leads on to WAITING: CLOSED --plan--> WAITING --due-->
   HANDSHAKE (or CONNACK_WAIT), dialled by mqttc_step (section 12).
   The step that handles CONNACK ends there: packets that came with it (a resumed session's
   messages, often in the same read) are delivered by the next step, so whoever waits for
   CONNECTED has the client before any message reaches a handler.

4. THE POLL LOOP. Nothing inside the core blocks or reads the clock. An event loop asks:
        int fd = mqttc_fd(&c);                  // -1 when there is no socket
        unsigned ev = mqttc_events(&c);         // MQTTC_EV_READ | MQTTC_EV_WRITE
        long ms = mqttc_timeout_ms(&c, now);    // until the next deadline; -1: none
   waits (poll, epoll, libuv, ...) and then calls mqttc_step(&c, now). Step connects, flushes
   output, reads everything available, dispatches callbacks, and runs the timers; it returns
   MQTTC_OK while the connection lives and the sticky error once it has ended. Output is
   written through at once when the socket is idle (a single publish leaves immediately) and
   coalesced when it is busy or corked (mqttc_cork); mqttc_flush writes what can go now.
   Without asking, what callbacks send during a step (acks, a bridge's republishes) leaves
   in one write at the step's end, and publishes made while earlier bytes wait for the
   socket join them. A loop of publishes outside a step is not delayed to batch it: nothing
   would send the last of them until the program calls the client again, so each goes
   through; cork around such a loop to send it in large writes (make bench shows both).
   The timeout is 0 whenever step has work no fd announces, an ended client included, so a
   loop that polls and then steps always sees the end. Flow control: mqttc_pause stops
   reading (TCP back-pressure reaches the broker) while step keeps acks and pings going; a
   loop that stops calling step sends nothing, and the broker ends the connection after 1.5
   x keepalive [MQTT-3.1.2-24].

5. MEMORY AND BUFFERS. The client struct is yours (stack, static or heap). By default it
   allocates its buffers at connect time and grows them to the largest packet seen; after
   that no allocation happens per message. Give options.mem / mem_size and it carves every
   buffer out of that block and never allocates (limits then are fixed and explicit).
   In-flight bookkeeping is O(1) per message at any window up to 65,535 (>>session): an
   index by packet id, built once 16 records are held, and removal without shifting.
   OpenSSL's memory is its own: its context, session and record buffers come from OpenSSL's
   allocator, not from options.mem nor MQTTC_MALLOC. That allocator is process-global
   (CRYPTO_set_mem_functions, which must run before OpenSSL's first allocation), so one
   client cannot route it; a program that must bound or count it installs its functions
   there at start-up. mqttc never calls it.

6. ERRORS. Functions return MQTTC_OK (0) or a negative MQTTC_ERR_*; mqttc_errname() gives
   the short stable name ("closed", "pingresp", ...), and mqttc_strerror() a sentence. The
   error says what kind of failure; the broker's own word travels next to it: a CONNACK
   refusal is MQTTC_ERR_REFUSED ("refused") with mqttc_reason_code() 1..5 [MQTT-3.2.2-5]
   (an MQTT 5 reason code from 0x80 in MQTT 5). MQTTC_ERR_BUSY (window or output full),
   MQTTC_ERR_ARG (your arguments, nothing sent; mqttc_bad_arg names the argument),
   MQTTC_ERR_STATE (not possible now, e.g. publish while not connected: mqttc_error keeps
   why it ended) and MQTT 5's MQTTC_ERR_TOOLARGE, _QOS and _UNSUPPORTED (what the broker's
   CONNACK does not allow) are not fatal; every other error ends the connection.
   mqttc_sys_errno keeps the errno of a failed connect or socket call.

7. TIME AND KEEPALIVE. Times are milliseconds from any monotonic origin (mqttc_now_ms()).
   With keepalive K: a PINGREQ goes out when nothing was sent, or nothing received, for K
   seconds [MQTT-3.1.2-23]; no PINGRESP within ping_timeout_ms (default and maximum K) ends
   the connection with "pingresp". So a dead link is found within 2 x K of the last byte.

8. TRANSPORTS. A connection is a chain of stages, bottom up; each is a mqttc_transport
   wrapping the one below, and the client only calls the top one (handshake until done,
   then send, recv, close):

      TCP --> proxy (SOCKS5 or HTTP CONNECT) --> TLS --> WebSocket --> MQTT
      next hop    opens the way to the broker    names the broker  frames MQTT's bytes

   The next hop is where TCP goes (the proxy when options.proxy is set, else the broker);
   the target is the broker, which every stage above the proxy speaks to. mqttc_connect_start
   and mqttc_connect_url make the bottom stage TCP (IPv4/IPv6, getaddrinfo, non-blocking
   connect as its handshake); mqttc_adopt_fd takes a socket someone else connected;
   mqttc_start_transport takes any mqttc_transport (your own stage, an in-memory pipe in
   tests). The stages above are added to all three. Every handshake drives the one below it
   first and is non-blocking, all of them inside connect_timeout_ms (state HANDSHAKE); a
   stage that fails says what it found in mqttc_error_detail.
   getaddrinfo blocks: pass numeric addresses to stay non-blocking. Through a proxy only the
   proxy's name is resolved here (socks5h:// and http:// send the broker's name on).
   URL: mqtt://, mqtts://, ws://, wss:// ([user[:password]@]host[:port][/path], IPv6 in
   brackets) choose TLS and WebSocket for that connection; options.secure and ws_path do
   for the host-and-port calls.
   PROXY (not with MQTTC_NO_PROXY). SOCKS5 (RFC 1928) with no authentication or user name
   and password (RFC 1929), the broker named by IPv4, IPv6 or domain name; HTTP CONNECT
   (RFC 9110 9.3.6) with Basic authentication, HTTP/1.0 or 1.1 answers. Each reads its
   answer exactly to its end, never a byte of what follows; bytes may come in any pieces.
   A refusal is "proxy" (mqttc_reason_code: SOCKS5's REP code or the HTTP status), refused
   credentials "proxyauth" (HTTP 407, SOCKS5 method or login refused; not retried). After
   its handshake the stage passes bytes through untouched.
   TLS (MQTTC_WITH_OPENSSL; options.secure = 1 or mqtts:// and wss://; default port 8883,
   443 for wss) names the broker, never the proxy (SNI and the name check). The trust rule:
   with a user name or password (or tls_verify), the broker's chain and host name are
   checked after the handshake and before CONNECT; an untrusted chain ends the connect with
   "cert", a name that does not match with "cn", and no byte of CONNECT leaves. Without
   credentials nothing is checked: the connection goes on, as with the original client.
   Over an adopted socket, name the broker in tls_server_name (else the check says "cn").
   The tls_ options with a connection that is not TLS are MQTTC_ERR_ARG at connect (never a
   silent plain-text connection; at init in a build without TLS). OpenSSL allocates for itself.
   WEBSOCKET (RFC 6455; not with MQTTC_NO_WEBSOCKET; options.ws_path, ws:// and wss://;
   default port 80, 443 with TLS). The upgrade asks for subprotocol "mqtt" [MQTT-6.0.0-3];
   the answer must be 101, select "mqtt" [MQTT-6.0.0-4] and carry the Sec-WebSocket-Accept
   of our random key, else "wshandshake". MQTT's bytes go in binary frames [MQTT-6.0.0-1],
   masked (a fresh key per frame), at most MQTTC_WS_FRAME payload bytes each (one frame per
   write: a batch of packets costs one system call, as over TCP): a packet may
   span frames and a frame hold several packets [MQTT-6.0.0-2]. Incoming frame headers are
   taken out in place; fragmented messages are joined, PING is answered with PONG, CLOSE is
   answered and ends the connection ("closed", after the data before it); a text frame, a
   masked frame, a reserved bit or opcode end it with "websocket". Closing sends CLOSE (1000) when the link still works.
   The proxy and WebSocket stages allocate their state once per connection (about 0.5 KiB,
   plus WebSocket's output buffer: 4 KiB, grown to MQTTC_WS_FRAME by a bulk sender); options.mem
   does not cover that, nor OpenSSL.

9. THREADS AND RE-ENTRANCY. A client is used by one thread at a time; different clients are
   independent (no global state). From inside any callback you may call publish, subscribe,
   unsubscribe, disconnect and flush; step and run return MQTTC_ERR_STATE there, and deinit
   must wait until the callback has returned. To run the loop in one thread and publish from
   others, set options.lock / options.unlock to a RECURSIVE mutex: every public call then
   holds it, and mqttc_run wakes (through a pipe) when another thread queues output or
   disconnects. Callbacks run with the lock held. on_status may also start a new connection.

10. API (one line each; declarations below say more)
    mqttc_init / mqttc_deinit          set up a client from options / close and free
    mqttc_connect                      blocking connect: TCP, CONNECT, wait for CONNACK
    mqttc_connect_start                non-blocking connect, completed by mqttc_step
    mqttc_adopt_fd, mqttc_start_transport   connect over a socket or transport you give
    mqttc_connect_wait                 blocking wait for CONNACK after any of the three
    mqttc_set_will, _keepalive, _clean_session, _login   settings between connections
    mqttc_publish                      QoS 0/1/2, retain; copies topic and payload
    mqttc_subscribe / mqttc_unsubscribe one filter, with SUBACK/UNSUBACK and message handlers
    mqttc_subscribe_many / _unsubscribe_many   several filters in one packet
    mqttc_disconnect                   graceful: open QoS 1/2 flows finish, DISCONNECT, close
    mqttc_fd, mqttc_events, mqttc_timeout_ms, mqttc_step    the poll-loop interface
    mqttc_pause                        stop / resume reading (flow control)
    mqttc_cork, mqttc_flush            coalesce output / write it now
    mqttc_run, mqttc_run_for           blocking loop until the end / for a while
    mqttc_publish_with                 the same from a mqttc_publish_info
    mqttc_wait                         the wait primitive: poll until the client has work
    mqttc_poll_events                  poll(2)'s events for a loop of your own
    mqttc_state, mqttc_error, mqttc_reason_code, mqttc_inflight, mqttc_inflight_in,
    mqttc_session_present, mqttc_client_id, mqttc_bad_arg, mqttc_sys_errno, mqttc_errname,
    mqttc_strerror, mqttc_now_ms       what the client is doing and why it stopped
    options.on_status                  connected / connect failed / lost, error and reason
    mqttc_encode_*, mqttc_decode, mqttc_topic_*      the codec, public for tests and brokers
    MQTT 5: mqttc_subscribe_with, _unsubscribe_with, _disconnect_with, _reauthenticate,
    mqttc_set_retry, mqttc_queued      staying connected (section 12): the plan after a loss / held
    mqttc_server_limits, mqttc_props_next / _get / _check / _size, mqttc_prop_int / _str /
    _bin / _user, mqttc_reason_name; options.protocol_version, session_expiry_s,
    topic_alias_in / _out, connect_props, will_props, on_auth

11. MQTT 5. options.protocol_version = 5; everything else stays as in 3.1.1, and nothing is
   allocated per message. Properties go out from a mqttc_props (a list of mqttc_prop and/or
   raw bytes, borrowed for the call and encoded into the client's buffers) and come in as a
   zero-copy mqttc_props view, valid during the callback: mqttc_props_next iterates,
   mqttc_props_get finds one. The client enforces the spec so the application need not:
    - the window is min(max_inflight, the broker's Receive Maximum) [MQTT-3.3.4-7];
      max_inflight_in is advertised as our Receive Maximum, and a broker past it gets
      DISCONNECT 0x93; max_packet_size is advertised as our Maximum Packet Size (a larger
      packet: DISCONNECT 0x95, "overflow"); nothing larger than the broker's is sent: the
      call fails with MQTTC_ERR_TOOLARGE and nothing is queued [MQTT-3.2.2-15];
    - Server Keep Alive replaces ours [MQTT-3.2.2-21]; a QoS above Maximum QoS is
      MQTTC_ERR_QOS, retain without Retain Available, wildcard or shared filters the broker
      does not support are MQTTC_ERR_UNSUPPORTED (not sent, not a disconnect);
      mqttc_server_limits tells what the CONNACK allowed;
    - the Assigned Client Identifier becomes mqttc_client_id, and is sent on reconnects;
    - incoming topic aliases (up to options.topic_alias_in) are resolved before a handler
      sees the message; alias 0 or above ours: DISCONNECT 0x94; an unknown alias: 0x82.
      Outgoing aliases (options.topic_alias_out) are assigned automatically, least recently
      used replaced; resent messages carry their whole topic (aliases die with the
      connection [MQTT-3.3.2-7]);
    - each per-filter handler gets a subscription identifier, so a message goes exactly to
      the handlers of the subscriptions it matched (overlapping and $share filters too);
      without identifiers (the broker's choice) filters are matched, $share/name/ removed;
    - every reason code and its properties reach the caller: acks through on_published,
      on_suback, on_unsuback; CONNACK and the broker's DISCONNECT through on_status
      (MQTTC_ERR_REFUSED, MQTTC_ERR_SERVER_DISCONNECT; mqttc_reason_code); a protocol
      violation by the broker gets DISCONNECT with its reason code (0x81, 0x82, 0x93, 0x94,
      0x95) before the connection closes;
    - enhanced authentication: an Authentication Method in options.connect_props starts it;
      the broker's AUTH 0x18 goes to options.on_auth, whose answer goes back, until
      CONNACK; mqttc_reauthenticate starts it again while connected.
   In the states of section 3, AUTH may arrive in CONNACK_WAIT (before CONNACK) and
   CONNECTED (re-authentication); nothing else changes.

12. STAYING CONNECTED. With options.reconnect_min_ms set, a lost connection is dialled again
   by the core itself: no thread, no loop of yours. After the loss the client is WAITING
   (CLOSED -> WAITING -> HANDSHAKE ...): mqttc_fd is -1, mqttc_timeout_ms is the time to the
   next attempt, and mqttc_step (and so mqttc_run) dials when it is due and returns MQTTC_OK
   all along; it returns the error only when the client stops trying.
    - Backoff: attempt n waits d = min(reconnect_max_ms, reconnect_min_ms * 2^n), jittered
      in [d/2, d]; n starts again only after a link stayed up reconnect_reset_ms. Each loss
      is told to on_status with the plan (retry_ms); mqttc_set_retry changes it.
    - It stops by itself where retrying cannot help: mqttc_disconnect; a refusal for the
      client's own reasons (3.1.1 codes 1, 2, 4, 5; MQTT 5 ones but 0x88, 0x89, 0x97,
      0x9F); an untrusted certificate or name; on_auth giving up; the broker's DISCONNECT
      0x8E (taken over), 0x98, 0x9C, 0x9D; and ten links in a row accepted and lost again
      before reconnect_reset_ms (two clients with one id knocking each other off: mosquitto
      2.0 closes the old connection without a word). A first connect that fails is retried
      only with reconnect_first.
    - options.brokers lists more brokers: each attempt takes the next (failover).
    - The session, by the book, one behaviour for 3.1.1 and 5. The broker kept it
      (session present 1, clean session off): unacknowledged QoS 1/2 messages go again with
      their ids and DUP, PUBREL for those past PUBREC [MQTT-4.4.0-1]. It did not (session
      present 0, always so with clean session on): nothing is lost silently: QoS 1 messages
      go again as new ones (DUP 0), QoS 2 ones are reported to on_dropped as
      MQTTC_ERR_SESSION_LOST (or go again as new with republish_qos2), and every
      subscription is made again (unless no_resubscribe).
    - The queue (options.queue_bytes): QoS 1/2 publishes accepted while offline or while
      the window is full are held, in order, up to that many bytes, their ids given at once;
      they go as the window allows, checked again against the new connection's limits.
      Full: the new one is refused (MQTTC_ERR_QUEUEFULL), or the oldest dropped
      (queue_drop_oldest, on_dropped).

13. A DURABLE STORE (options.store). Without one, a process that dies loses the QoS 1/2
   messages it had accepted but not seen acknowledged. With one, the client writes what it
   must not lose through the store's four calls, at the moments that matter:
      put PUBLISH    a QoS 1/2 publish is accepted (before mqttc_publish returns); again,
                     DUP set in the stored copy, when a queued one is first written
      put PUBREL     PUBREC came for it: it is now PUBREL pending (replaces the PUBLISH)
      remove out     PUBACK or PUBCOMP ended it, or it was given up (on_dropped)
      put PUBREC     an incoming QoS 2 PUBLISH is taken (before PUBREC leaves and before
                     its handler runs: it is delivered at most once, even across a crash)
      remove in      PUBREL ended that flow (before PUBCOMP leaves)
      flush          at the end of every step: what the store buffers, made durable
   mqttc_init loads what the store holds (its load call) as the session: outgoing messages
   written before are resent with their ids and DUP, those never written are queued as new,
   PUBREL goes for those past PUBREC, incoming QoS 2 ids are remembered (a resent PUBLISH
   is answered, not delivered again). Use a fixed client_id and
   no_clean_session = 1, so the broker keeps its half; a broker without the session is
   section 12's case. A store call that fails ends the connection with "store"; from
   mqttc_publish it is returned and the message is not taken.
   The bundled file store (mqttc_file_store_open; not with MQTTC_NO_SOCKETS): one directory
   per client id, an append-only log of checksummed records, compacted when it is mostly
   dead. flush_ms 0: every put and remove is on disk (fdatasync) before the call returns,
   so a publish that returned MQTTC_OK is durable; N: the log is synced at the end of the
   step once N ms have passed. A torn or corrupt record (a crash mid-write, a flipped bit)
   is skipped, counted and named (mqttc_file_store.skipped, .problem), never replayed;
   the log is rewritten clean when opened. One process at a time (a lock).

LICENSE: MIT, at the end of the file.
*/
#ifndef MQTTC_H
#define MQTTC_H

#include <stddef.h>
#include <stdint.h>

#ifndef MQTTC_DEF /* yours to set: visibility attributes, __declspec(dllexport), ... */
#ifdef MQTTC_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define MQTTC_DEF static __attribute__((unused)) /* a unit need not call every function */
#else
#define MQTTC_DEF static
#endif
#else
#define MQTTC_DEF extern
#endif
#endif

#ifndef MQTTC_DEFAULT_MAX_PACKET
#define MQTTC_DEFAULT_MAX_PACKET (16u * 1024u * 1024u)
#endif

#define MQTTC_VERSION_MAJOR 0
#define MQTTC_VERSION_MINOR 1
#define MQTTC_VERSION_PATCH 0
#define MQTTC_VERSION "0.1.0"

/* Outgoing QoS 1/2 messages in flight by default. mosquitto 2.0 keeps at most 20 unreleased
   incoming QoS 2 messages per client (max_inflight_messages) and, past that, drops the
   message while answering PUBREC with a reason code a 3.1.1 client cannot see: a larger
   window loses messages silently on a stock broker. libmosquitto uses 20 too. */
#ifndef MQTTC_DEFAULT_MAX_INFLIGHT
#define MQTTC_DEFAULT_MAX_INFLIGHT 20u
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors: one table gives the enum, the short name and the sentence ---- */
#define MQTTC_ERRORS(X)                                                                      \
    X(OK, 0, "ok", "success")                                                                \
    X(ERR_ARG, -1, "argument", "invalid argument; nothing was sent")                         \
    X(ERR_BUSY, -2, "busy", "in-flight window or output buffer full; step, then retry")      \
    X(ERR_STATE, -3, "state", "not possible in the client's current state")                  \
    X(ERR_NOSPACE, -4, "nospace", "the buffer is too small")                                 \
    X(ERR_NOMEM, -5, "nomem", "out of memory")                                               \
    X(ERR_MALFORMED, -6, "malformed", "malformed packet")                                    \
    X(ERR_TOOLARGE, -7, "toolarge", "the packet is larger than the broker's maximum")         \
    X(ERR_QOS, -8, "qos", "the QoS is above the broker's Maximum QoS")                        \
    X(ERR_UNSUPPORTED, -9, "unsupported", "the broker does not support it (CONNACK)")        \
    X(ERR_CANNOTRESOLVE, -10, "cannotresolve", "cannot resolve the host name")               \
    X(ERR_CANNOTCONNECT, -11, "cannotconnect", "cannot connect to the broker")               \
    X(ERR_TIMEOUT, -12, "timeout", "timed out")                                              \
    X(ERR_CLOSED, -13, "closed", "the connection was closed")                                \
    X(ERR_INVALIDRESP, -14, "invalidresp", "the broker's first answer is not a CONNACK")     \
    X(ERR_REFUSED, -21, "refused", "the broker refused the connection (mqttc_reason_code)")  \
    X(ERR_AUTH, -22, "auth", "the authentication exchange was ended by on_auth")              \
    X(ERR_DISCONNECT, -30, "disconnect", "disconnected by mqttc_disconnect")                 \
    X(ERR_PINGRESP, -31, "pingresp", "no PINGRESP within the ping timeout")                  \
    X(ERR_OVERFLOW, -32, "overflow", "incoming packet or state over its limit")              \
    X(ERR_PROTOCOL, -33, "protocolerror", "malformed or unexpected packet from the broker") \
    X(ERR_IO, -34, "io", "socket error")                                                     \
    X(ERR_SERVER_DISCONNECT, -35, "serverdisconnect", "the broker sent DISCONNECT (reason code)") \
    X(ERR_QUEUEFULL, -15, "queuefull", "the offline queue (options.queue_bytes) is full")    \
    X(ERR_SESSION_LOST, -36, "sessionlost", "the broker lost the session: the message is lost") \
    X(ERR_STORE, -37, "store", "the durable store (options.store) failed")                   \
    X(ERR_SSLHANDSHAKE, -40, "sslhandshake", "TLS handshake failed")                         \
    X(ERR_CERT, -41, "cert", "the broker's certificate chain is not trusted")                \
    X(ERR_CN, -42, "cn", "the broker's certificate does not name the host")                   \
    X(ERR_PROXY, -43, "proxy", "the proxy could not open the way to the broker (mqttc_reason_code)") \
    X(ERR_PROXYAUTH, -44, "proxyauth", "the proxy refused our credentials or asked for some")  \
    X(ERR_WSHANDSHAKE, -45, "wshandshake", "the WebSocket upgrade failed")                     \
    X(ERR_WEBSOCKET, -46, "websocket", "WebSocket protocol error (a text, masked or malformed frame)")

enum {
#define MQTTC__ENUM(name, value, shortname, text) MQTTC_##name = value,
    MQTTC_ERRORS(MQTTC__ENUM)
#undef MQTTC__ENUM
    MQTTC_MORE = 1 /* not an error: a decoder needs more bytes, a handshake more steps */
};

/* MQTT control packet types [MQTT-2.2.1]. */
enum {
    MQTTC_CONNECT = 1, MQTTC_CONNACK, MQTTC_PUBLISH, MQTTC_PUBACK, MQTTC_PUBREC, MQTTC_PUBREL,
    MQTTC_PUBCOMP, MQTTC_SUBSCRIBE, MQTTC_SUBACK, MQTTC_UNSUBSCRIBE, MQTTC_UNSUBACK,
    MQTTC_PINGREQ, MQTTC_PINGRESP, MQTTC_DISCONNECT, MQTTC_AUTH /* AUTH: MQTT 5 only */
};

/* Poll events: what mqttc_events() asks for and transports report. */
enum { MQTTC_EV_READ = 1, MQTTC_EV_WRITE = 2 };

/* Connection states, in lifecycle order (diagram in the top comment, section 3). */
typedef enum mqttc_state_id {
    MQTTC_STATE_IDLE,           /* initialised, never connected */
    MQTTC_STATE_HANDSHAKE,      /* the transport chain's handshake: TCP connect, TLS, ... */
    MQTTC_STATE_CONNACK_WAIT,   /* CONNECT queued or sent, waiting for CONNACK */
    MQTTC_STATE_CONNECTED,      /* CONNACK 0 received: publish and subscribe freely */
    MQTTC_STATE_DRAINING,       /* mqttc_disconnect: finishing the open QoS 1/2 flows */
    MQTTC_STATE_DISCONNECTING,  /* DISCONNECT queued; closes once it is written */
    MQTTC_STATE_CLOSED,         /* ended; mqttc_error() tells why */
    MQTTC_STATE_WAITING         /* lost, and dialling again when mqttc_timeout_ms says (options.
                                   reconnect_min_ms); mqttc_error() tells why it was lost */
} mqttc_state_id;

/* ---- >>codec declarations ----
   One info struct per packet kind is the one type passed between the encoders, the decoder,
   the client's verbs and its callbacks. All-zero means defaults. Each has room for what MQTT 5
   adds (reason codes, properties); with 3.1.1 those stay 0 and empty. */

#define MQTTC_PROTOCOL_311 4 /* the protocol level of MQTT 3.1.1 [MQTT-3.1.2-2]; 0 means it */
#define MQTTC_PROTOCOL_5 5   /* MQTT 5.0 [MQTT-3.1.2-2] (not with MQTTC_NO_MQTT5) */

/* A byte string that need not be NUL-terminated. ptr NULL means "absent". */
typedef struct mqttc_str {
    const char *ptr;
    size_t len;
} mqttc_str;

/* MQTT 5 property identifiers [MQTT-2.2.2.2]. The value's type follows the id: a byte, a
   two- or four-byte integer or a variable-byte integer (in mqttc_prop.value), a UTF-8
   string or binary data (in .str), or a string pair (a user property: .str and .val). */
enum {
    MQTTC_PROP_PAYLOAD_FORMAT = 0x01,       /* byte, 0 bytes or 1 UTF-8: PUBLISH, will */
    MQTTC_PROP_MESSAGE_EXPIRY = 0x02,       /* four-byte, seconds: PUBLISH, will */
    MQTTC_PROP_CONTENT_TYPE = 0x03,         /* string: PUBLISH, will */
    MQTTC_PROP_RESPONSE_TOPIC = 0x08,       /* string, a topic name: PUBLISH, will */
    MQTTC_PROP_CORRELATION_DATA = 0x09,     /* binary: PUBLISH, will */
    MQTTC_PROP_SUBSCRIPTION_ID = 0x0B,      /* varint 1..268435455: SUBSCRIBE, PUBLISH in */
    MQTTC_PROP_SESSION_EXPIRY = 0x11,       /* four-byte, seconds: CONNECT, CONNACK, DISCONNECT */
    MQTTC_PROP_ASSIGNED_CLIENT_ID = 0x12,   /* string: CONNACK */
    MQTTC_PROP_SERVER_KEEP_ALIVE = 0x13,    /* two-byte, seconds: CONNACK */
    MQTTC_PROP_AUTH_METHOD = 0x15,          /* string: CONNECT, CONNACK, AUTH */
    MQTTC_PROP_AUTH_DATA = 0x16,            /* binary: CONNECT, CONNACK, AUTH */
    MQTTC_PROP_REQUEST_PROBLEM_INFO = 0x17, /* byte 0/1: CONNECT */
    MQTTC_PROP_WILL_DELAY = 0x18,           /* four-byte, seconds: will */
    MQTTC_PROP_REQUEST_RESPONSE_INFO = 0x19, /* byte 0/1: CONNECT */
    MQTTC_PROP_RESPONSE_INFO = 0x1A,        /* string: CONNACK */
    MQTTC_PROP_SERVER_REFERENCE = 0x1C,     /* string: CONNACK, DISCONNECT */
    MQTTC_PROP_REASON_STRING = 0x1F,        /* string: CONNACK, acks, DISCONNECT, AUTH */
    MQTTC_PROP_RECEIVE_MAX = 0x21,          /* two-byte, not 0: CONNECT, CONNACK */
    MQTTC_PROP_TOPIC_ALIAS_MAX = 0x22,      /* two-byte: CONNECT, CONNACK */
    MQTTC_PROP_TOPIC_ALIAS = 0x23,          /* two-byte, not 0: PUBLISH */
    MQTTC_PROP_MAX_QOS = 0x24,              /* byte 0/1: CONNACK */
    MQTTC_PROP_RETAIN_AVAILABLE = 0x25,     /* byte 0/1: CONNACK */
    MQTTC_PROP_USER = 0x26,                 /* string pair, may repeat: every packet, will */
    MQTTC_PROP_MAX_PACKET_SIZE = 0x27,      /* four-byte, not 0: CONNECT, CONNACK */
    MQTTC_PROP_WILDCARD_SUB_AVAILABLE = 0x28, /* byte 0/1: CONNACK */
    MQTTC_PROP_SUB_ID_AVAILABLE = 0x29,     /* byte 0/1: CONNACK */
    MQTTC_PROP_SHARED_SUB_AVAILABLE = 0x2A  /* byte 0/1: CONNACK */
};
/* For mqttc_props_check: the will's properties (they are not a packet's). */
#define MQTTC_PROPS_WILL 0

/* One property, in or out. */
typedef struct mqttc_prop {
    int id;         /* MQTTC_PROP_* */
    uint32_t value; /* byte, two-byte, four-byte and variable-byte values */
    mqttc_str str;  /* a string or binary value; a user property's name */
    mqttc_str val;  /* a user property's value */
} mqttc_prop;

/* A set of MQTT 5 properties: raw bytes as on the wire (ptr, len: without the length
   prefix), then a list of mqttc_prop (list, count), both optional. Decoded packets fill the
   raw view (zero-copy, pointing into the buffer decoded); to encode, give either or both
   (the raw bytes are checked like the list). Empty in 3.1.1. */
typedef struct mqttc_props {
    const unsigned char *ptr;
    size_t len;
    const mqttc_prop *list;
    size_t count;
} mqttc_props;

/* CONNECT, for mqttc_encode_connect and from mqttc_decode. */
typedef struct mqttc_connect_info {
    mqttc_str protocol_name;   /* decode only: "MQTT" for 3.1.1 */
    int protocol_level;        /* decode only: 4 for 3.1.1 */
    mqttc_str client_id;       /* may be empty (then clean_session must be 1 [MQTT-3.1.3-7]) */
    int clean_session;         /* 0 or 1 */
    unsigned keepalive_s;      /* 0..65535; 0 = off */
    mqttc_str will_topic;      /* ptr NULL: no will */
    mqttc_str will_payload;    /* binary */
    int will_qos, will_retain;
    mqttc_str username;        /* ptr NULL: none */
    mqttc_str password;        /* ptr NULL: none; binary; in 3.1.1 it needs a username
                                  [MQTT-3.1.2-22] (MQTT 5 allows it alone) */
    mqttc_props props, will_props; /* MQTT 5: CONNECT's and the will's properties */
} mqttc_connect_info;

/* CONNACK. reason_code: in 3.1.1 the return code, 0 = accepted, 1..5 refusals
   [MQTT-3.2.2-5]; in MQTT 5 a reason code, 0 or >= 0x80 (MQTTC_RC_*). */
typedef struct mqttc_connack_info {
    int session_present;
    int reason_code;
    mqttc_props props;
} mqttc_connack_info;

/* PUBLISH. topic is NUL-terminated when a handler gets it (mqttc_message); topic and
   payload then live in the client's receive buffer, valid only during the callback. */
typedef struct mqttc_publish_info {
    const char *topic;
    size_t topic_len;
    const void *payload;
    size_t payload_len;
    int qos, retain, dup;
    unsigned short packet_id;  /* QoS 1 and 2 only, never 0 [MQTT-2.3.1-1] */
    mqttc_props props;
} mqttc_publish_info;

/* PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: a packet id (and in MQTT 5 a reason). An
   MQTT 5 UNSUBACK has a reason code per filter instead: codes[0..count) (reason_code is
   then the first of them). */
typedef struct mqttc_ack_info {
    int type;                  /* MQTTC_PUBACK ... */
    unsigned short packet_id;
    int reason_code;           /* 0 in 3.1.1; MQTTC_RC_* in MQTT 5 */
    mqttc_props props;
    const unsigned char *codes; /* MQTT 5 UNSUBACK only */
    size_t count;
} mqttc_ack_info;

/* SUBSCRIBE and UNSUBSCRIBE. To encode: count filters (C strings: a filter has no NUL
   [MQTT-1.5.3-2]), and for SUBSCRIBE an options byte each: the requested QoS, and in MQTT 5
   the MQTTC_SUB_* bits. Decoded: the raw list, read with mqttc_next_filter. */
#define MQTTC_SUB_NO_LOCAL 0x04u              /* MQTT 5: not our own messages back */
#define MQTTC_SUB_RETAIN_AS_PUBLISHED 0x08u   /* MQTT 5: keep the RETAIN flag as published */
#define MQTTC_SUB_RETAIN_HANDLING(n) ((unsigned)(n) << 4) /* 0 send retained, 1 only for a new
                                                 subscription, 2 never [MQTT-3.8.3.1] */
typedef struct mqttc_subscribe_info {
    unsigned short packet_id;
    const char *const *filters;
    const unsigned char *options;
    size_t count;
    int type;                  /* decode only: MQTTC_SUBSCRIBE or MQTTC_UNSUBSCRIBE */
    const unsigned char *list; /* decode only */
    size_t list_len;
    mqttc_props props;
} mqttc_subscribe_info;

/* SUBACK: one code per filter, in order: the granted QoS 0..2, or 0x80 for a refusal (in
   MQTT 5 any reason code >= 0x80). */
typedef struct mqttc_suback_info {
    unsigned short packet_id;
    const unsigned char *codes;
    size_t count;
    mqttc_props props;
} mqttc_suback_info;

/* DISCONNECT (in MQTT 5 with a reason). */
typedef struct mqttc_disconnect_info {
    int reason_code;
    mqttc_props props;
} mqttc_disconnect_info;

/* AUTH (MQTT 5 only): a reason (0 success, 0x18 continue, 0x19 re-authenticate) and the
   method and data as properties. */
typedef struct mqttc_auth_info {
    int reason_code;
    mqttc_props props;
} mqttc_auth_info;

/* MQTT 5 reason codes [MQTT-2.4], with their short names (mqttc_reason_name). Below 0x80 a
   success; 0x00 also means "granted QoS 0" in a SUBACK and "normal" in a DISCONNECT. */
#define MQTTC_REASONS(X)                                                                      \
    X(SUCCESS, 0x00, "success") X(GRANTED_QOS1, 0x01, "grantedqos1")                          \
    X(GRANTED_QOS2, 0x02, "grantedqos2") X(DISCONNECT_WITH_WILL, 0x04, "disconnectwithwill")  \
    X(NO_MATCHING_SUBSCRIBERS, 0x10, "nomatchingsubscribers")                                 \
    X(NO_SUBSCRIPTION_EXISTED, 0x11, "nosubscriptionexisted")                                 \
    X(CONTINUE_AUTH, 0x18, "continueauthentication") X(REAUTHENTICATE, 0x19, "reauthenticate") \
    X(UNSPECIFIED, 0x80, "unspecifiederror") X(MALFORMED_PACKET, 0x81, "malformedpacket")     \
    X(PROTOCOL_ERROR, 0x82, "protocolerror") X(IMPLEMENTATION_SPECIFIC, 0x83, "implementationspecificerror") \
    X(UNSUPPORTED_PROTOCOL_VERSION, 0x84, "unsupportedprotocolversion")                       \
    X(CLIENT_ID_NOT_VALID, 0x85, "clientidentifiernotvalid")                                  \
    X(BAD_USERNAME_OR_PASSWORD, 0x86, "badusernameorpassword") X(NOT_AUTHORIZED, 0x87, "notauthorized") \
    X(SERVER_UNAVAILABLE, 0x88, "serverunavailable") X(SERVER_BUSY, 0x89, "serverbusy")      \
    X(BANNED, 0x8A, "banned") X(SERVER_SHUTTING_DOWN, 0x8B, "servershuttingdown")            \
    X(BAD_AUTH_METHOD, 0x8C, "badauthenticationmethod") X(KEEP_ALIVE_TIMEOUT, 0x8D, "keepalivetimeout") \
    X(SESSION_TAKEN_OVER, 0x8E, "sessiontakenover") X(TOPIC_FILTER_INVALID, 0x8F, "topicfilterinvalid") \
    X(TOPIC_NAME_INVALID, 0x90, "topicnameinvalid") X(PACKET_ID_IN_USE, 0x91, "packetidentifierinuse") \
    X(PACKET_ID_NOT_FOUND, 0x92, "packetidentifiernotfound")                                 \
    X(RECEIVE_MAX_EXCEEDED, 0x93, "receivemaximumexceeded") X(TOPIC_ALIAS_INVALID, 0x94, "topicaliasinvalid") \
    X(PACKET_TOO_LARGE, 0x95, "packettoolarge") X(MESSAGE_RATE_TOO_HIGH, 0x96, "messageratetoohigh") \
    X(QUOTA_EXCEEDED, 0x97, "quotaexceeded") X(ADMINISTRATIVE_ACTION, 0x98, "administrativeaction") \
    X(PAYLOAD_FORMAT_INVALID, 0x99, "payloadformatinvalid") X(RETAIN_NOT_SUPPORTED, 0x9A, "retainnotsupported") \
    X(QOS_NOT_SUPPORTED, 0x9B, "qosnotsupported") X(USE_ANOTHER_SERVER, 0x9C, "useanotherserver") \
    X(SERVER_MOVED, 0x9D, "servermoved") X(SHARED_SUBS_NOT_SUPPORTED, 0x9E, "sharedsubscriptionsnotsupported") \
    X(CONNECTION_RATE_EXCEEDED, 0x9F, "connectionrateexceeded") X(MAX_CONNECT_TIME, 0xA0, "maximumconnecttime") \
    X(SUB_IDS_NOT_SUPPORTED, 0xA1, "subscriptionidentifiersnotsupported")                   \
    X(WILDCARD_SUBS_NOT_SUPPORTED, 0xA2, "wildcardsubscriptionsnotsupported")
enum {
#define MQTTC__RC_ENUM(name, value, shortname) MQTTC_RC_##name = value,
    MQTTC_REASONS(MQTTC__RC_ENUM)
#undef MQTTC__RC_ENUM
    MQTTC_RC_NORMAL = 0x00
};

/* A decoded packet: its type, and the info of that type. Pointers point into the buffer
   given to mqttc_decode. */
typedef struct mqttc_packet {
    int type;                  /* MQTTC_CONNECT ... MQTTC_AUTH */
    unsigned flags;            /* the fixed header's low nibble */
    mqttc_connect_info connect;
    mqttc_connack_info connack;
    mqttc_publish_info publish;
    mqttc_ack_info ack;        /* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK */
    mqttc_subscribe_info subscribe; /* SUBSCRIBE, UNSUBSCRIBE */
    mqttc_suback_info suback;
    mqttc_disconnect_info disconnect;
    mqttc_auth_info auth;      /* MQTT 5 */
} mqttc_packet;

/* Encoders write one packet into buf[0..cap) and set *n to its size; they are the one place
   sizes are computed. When it does not fit (buf may be NULL with cap 0 to ask the size) they
   return MQTTC_ERR_NOSPACE with *n set to the size needed. MQTTC_ERR_ARG when a field breaks
   the spec's rules (properties included: one allowed in that packet, not repeated unless it
   may be, well-formed), or for a protocol version other than 0 or 4 (3.1.1) and 5. In
   3.1.1 properties and reason codes must be empty. An MQTT 5 ack with reason 0 and no
   properties takes the short form (remaining length 2), and with no properties 3. */
MQTTC_DEF int mqttc_encode_connect(unsigned char *buf, size_t cap, int version, const mqttc_connect_info *ci, size_t *n);
MQTTC_DEF int mqttc_encode_connack(unsigned char *buf, size_t cap, int version, const mqttc_connack_info *ca, size_t *n);
MQTTC_DEF int mqttc_encode_publish(unsigned char *buf, size_t cap, int version, const mqttc_publish_info *pi, size_t *n);
MQTTC_DEF int mqttc_encode_ack(unsigned char *buf, size_t cap, int version, const mqttc_ack_info *ai, size_t *n);
MQTTC_DEF int mqttc_encode_subscribe(unsigned char *buf, size_t cap, int version, const mqttc_subscribe_info *si, size_t *n);
MQTTC_DEF int mqttc_encode_unsubscribe(unsigned char *buf, size_t cap, int version, const mqttc_subscribe_info *si,
                                       size_t *n);
MQTTC_DEF int mqttc_encode_suback(unsigned char *buf, size_t cap, int version, const mqttc_suback_info *sa, size_t *n);
MQTTC_DEF int mqttc_encode_disconnect(unsigned char *buf, size_t cap, int version, const mqttc_disconnect_info *di,
                                      size_t *n);
/* MQTT 5 only. A reason 0 without properties is the two-byte form; any other has its
   property length too [MQTT-3.15.2.1]. */
MQTTC_DEF int mqttc_encode_auth(unsigned char *buf, size_t cap, int version, const mqttc_auth_info *ai, size_t *n);
/* PINGREQ and PINGRESP: two bytes. */
MQTTC_DEF int mqttc_encode_ping(unsigned char *buf, size_t cap, int type, size_t *n);

/* Decodes the packet at the start of buf[0..len) by the rules of protocol `version` (0 or 4:
   3.1.1; 5). A CONNECT is read by the protocol level it carries, whatever version says (a
   broker learns the version from it). MQTTC_OK: *p filled and *used = its size. MQTTC_MORE: the packet is not complete
   yet (*used = the total size once the fixed header is readable, else 0).
   MQTTC_ERR_OVERFLOW: it is larger than max_size bytes (0: no limit). MQTTC_ERR_MALFORMED:
   anything the spec forbids. MQTTC_ERR_ARG: a version it does not speak. Nothing is
   allocated or copied. MQTT 5 adds MQTTC_ERR_PROTOCOL for what is well-formed but not
   allowed (a repeated property, a zero Receive Maximum, an empty topic without an alias):
   a client answers that with DISCONNECT 0x82 rather than 0x81. */
MQTTC_DEF int mqttc_decode(const unsigned char *buf, size_t len, size_t max_size, int version, mqttc_packet *p,
                           size_t *used);
/* The packet id a decoded packet carries, whichever its kind; 0 for a kind without one. */
MQTTC_DEF unsigned short mqttc_packet_id(const mqttc_packet *p);
/* Iterates the filters of a decoded SUBSCRIBE or UNSUBSCRIBE (p.subscribe): start with
   *pos = 0; returns 1 with *filter (and *options, the QoS in 3.1.1, for SUBSCRIBE; may be
   NULL) set, or 0 at the end. */
MQTTC_DEF int mqttc_next_filter(const mqttc_subscribe_info *si, size_t *pos, mqttc_str *filter, int *options);

#ifndef MQTTC_NO_MQTT5
/* Iterates a property set, the raw bytes first, then the list: start with *pos = 0; returns
   1 with *out set, 0 at the end, MQTTC_ERR_MALFORMED for raw bytes that do not parse (never
   for a decoded packet's: the decoder checked them). Strings point into the set. */
MQTTC_DEF int mqttc_props_next(const mqttc_props *ps, size_t *pos, mqttc_prop *out);
/* The first property with this id: 1 with *out set (out may be NULL), else 0. */
MQTTC_DEF int mqttc_props_get(const mqttc_props *ps, int id, mqttc_prop *out);
/* The spec's rules for the properties of a packet of this type (MQTTC_CONNECT ...
   MQTTC_AUTH, or MQTTC_PROPS_WILL): each allowed there, none repeated but user properties
   (and subscription identifiers in a PUBLISH), values in range, strings UTF-8 [MQTT-1.5.4-1],
   a Response Topic a valid topic name [MQTT-3.3.2-14]. MQTTC_OK or MQTTC_ERR_ARG. */
MQTTC_DEF int mqttc_props_check(const mqttc_props *ps, int type);
/* Bytes the set takes on the wire, its length prefix included. */
MQTTC_DEF size_t mqttc_props_size(const mqttc_props *ps);
/* Building one property: an integer value, a UTF-8 string (NUL-terminated), binary data, a
   user property. The strings are borrowed. */
MQTTC_DEF mqttc_prop mqttc_prop_int(int id, uint32_t value);
MQTTC_DEF mqttc_prop mqttc_prop_str(int id, const char *s);
MQTTC_DEF mqttc_prop mqttc_prop_bin(int id, const void *data, size_t len);
MQTTC_DEF mqttc_prop mqttc_prop_user(const char *name, const char *value);
#endif
/* The short name of a reason code ("success", "notauthorized", ...), "unknown" for codes the
   spec does not define. Static. */
MQTTC_DEF const char *mqttc_reason_name(int reason_code);

/* Topic rules [MQTT-4.7]. Each returns MQTTC_OK or MQTTC_ERR_ARG. */
MQTTC_DEF int mqttc_utf8_check(const char *s, size_t len);        /* [MQTT-1.5.3-1/2] */
MQTTC_DEF int mqttc_topic_check(const char *topic, size_t len);   /* a name to publish to */
MQTTC_DEF int mqttc_filter_check(const char *filter, size_t len); /* a filter to subscribe */
/* 1 when topic matches filter, by the spec's rules, including `$` topics [MQTT-4.7.2-1]. */
MQTTC_DEF int mqttc_topic_matches(const char *filter, size_t flen, const char *topic, size_t tlen);

/* ---- >>transport declarations ---- */
typedef struct mqttc_transport mqttc_transport;

/* A transport moves bytes; transports stack into a chain (TCP, then TLS, ...), each stage
   wrapping the one below, and the client sees only the top one. send/recv return MQTTC_OK
   with *n bytes moved (0 = would block) or a negative error (MQTTC_ERR_CLOSED on EOF).
   handshake (may be NULL: nothing to set up) returns MQTTC_OK when the stage and all below
   it are ready, MQTTC_MORE to be called again when `want` events are ready, or an error: a
   TCP stage's handshake is its non-blocking connect, a TLS stage's drives the stage below
   first, then its own. close releases the stage and everything below. fd is what to poll
   (-1 if nothing). */
struct mqttc_transport {
    int (*send)(mqttc_transport *t, const unsigned char *buf, size_t len, size_t *n);
    int (*recv)(mqttc_transport *t, unsigned char *buf, size_t cap, size_t *n);
    int (*handshake)(mqttc_transport *t);
    void (*close)(mqttc_transport *t);
    int fd;
    unsigned want; /* events the transport itself waits for; the client adds its own */
    void *ctx;     /* the transport's own state */
    void *slot[2]; /* room for a stage's own pointers, so the bottom stage allocates nothing */
    int has_buffered_input; /* set by recv: bytes are ready that poll cannot see (TLS keeps
                               decrypted bytes); mqttc_timeout_ms is then 0 */
    const char *detail;     /* with an error: what the stage found (static text), or NULL */
    int detail_code;        /* with it: the peer's own code (a proxy's reply), or 0 */
};

/* Per-client state of the transport stages, kept across connections (the TLS context).
   Private to the >>transport and >>tls sections. */
typedef struct mqttc__stages {
    void *tls;
} mqttc__stages;

/* ---- >>client declarations ---- */
typedef struct mqttc_client mqttc_client;

/* A message delivered to a handler: a PUBLISH's info. topic is NUL-terminated; both it and
   payload live in the client's receive buffer and are valid only during the callback. */
typedef mqttc_publish_info mqttc_message;

typedef void (*mqttc_message_fn)(mqttc_client *c, const mqttc_message *m, void *user);
/* SUBACK: codes[i] is the QoS granted to filter i (0..2), or 0x80 for a refusal. */
typedef void (*mqttc_suback_fn)(mqttc_client *c, const mqttc_suback_info *s, void *user);
/* UNSUBACK, and a QoS 1 or 2 publish completed (PUBACK or PUBCOMP): the ack's info. */
typedef void (*mqttc_unsuback_fn)(mqttc_client *c, const mqttc_ack_info *a, void *user);
typedef void (*mqttc_published_fn)(mqttc_client *c, const mqttc_ack_info *a, void *user);
/* A packet trace, for logs (mqttc-sub -d): every packet as it is queued to be sent
   (is_sent 1) and as it arrives, just before it is handled (is_sent 0), decoded, over any
   transport. Only for looking: call nothing of the client's from it. */
typedef void (*mqttc_trace_fn)(mqttc_client *c, int is_sent, const mqttc_packet *p, void *user);

/* What happened to the connection, for options.on_status: the hook a reconnect policy
   stands on. error says what kind of failure (MQTTC_ERR_*); reason_code is the broker's
   word next to it (CONNACK's return code: 0 accepted, 1..5 refused [MQTT-3.2.2-5]; in
   MQTT 5 the CONNACK's or the broker's DISCONNECT's reason code, and props its properties:
   Reason String, Server Reference, ...). */
enum {
    MQTTC_EVENT_CONNECTED = 1, /* CONNACK accepted the connection */
    MQTTC_EVENT_CONNECT_FAILED, /* it ended before that: resolve, TCP, TLS, timeout, refusal */
    MQTTC_EVENT_CONNECTION_LOST /* it ended after that; error "disconnect" when we ended it */
};
typedef struct mqttc_status {
    int event;
    int error;           /* MQTTC_OK for CONNECTED */
    int reason_code;
    int session_present; /* CONNECTED: the broker kept our session */
    mqttc_props props;   /* MQTT 5: of that CONNACK or DISCONNECT; valid during the call */
    long retry_ms;       /* CONNECT_FAILED, CONNECTION_LOST: the client dials again after
                            this many ms; -1: it stops. mqttc_set_retry changes the plan */
    unsigned attempt;    /* failed attempts since the link last stayed up */
} mqttc_status;
/* Called after the step (or connect call) in which it happened, never from inside another
   callback; it may call any function but step and run, including a new connect. */
typedef void (*mqttc_status_fn)(mqttc_client *c, const mqttc_status *s, void *user);
/* MQTT 5 enhanced authentication: the broker's AUTH (reason 0x18, continue) with its
   Authentication Data in in->props. Set *out_data (borrowed until the next step) to the
   answer and return 0 to continue (AUTH 0x18 goes, with our method [MQTT-4.12.0-3/5]), or
   return non-zero to give up: DISCONNECT 0x87 and the error MQTTC_ERR_AUTH. */
typedef int (*mqttc_auth_fn)(mqttc_client *c, const mqttc_auth_info *in, mqttc_str *out_data, void *user);
/* A message the client gave up: why is MQTTC_ERR_QUEUEFULL (the oldest dropped for a new
   one), MQTTC_ERR_SESSION_LOST (a QoS 2 message the broker's lost session took with it: it
   may or may not have arrived), MQTTC_ERR_TOOLARGE, MQTTC_ERR_QOS or MQTTC_ERR_UNSUPPORTED
   (retain) when it waited while offline and the new connection's limits do not take it.
   m is valid during the call (topic and payload are NULL for a QoS 2 message already past
   PUBREC). Only for looking, like the trace: call nothing of the client's from it (copy
   what you need and publish it again later). */
typedef void (*mqttc_dropped_fn)(mqttc_client *c, const mqttc_publish_info *m, int why, void *user);

/* MQTT 5: what the broker's CONNACK allows, for this connection, with the spec's defaults
   where it said nothing [MQTT-3.2.2.3]. In 3.1.1 the defaults (nothing is limited). */
typedef struct mqttc_limits {
    unsigned receive_max;      /* QoS 1/2 publishes in flight (the window is the smaller of
                                  this and options.max_inflight); 65535 */
    uint32_t max_packet_size;  /* bytes, whole packet; 0: no limit */
    unsigned topic_alias_max;  /* 0: no aliases */
    int max_qos;               /* 2 */
    int retain_available, wildcard_available, sub_id_available, shared_available; /* 1 */
    unsigned keepalive_s;      /* in effect: Server Keep Alive or ours [MQTT-3.2.2-21] */
    uint32_t session_expiry_s; /* in effect: the broker's or ours */
} mqttc_limits;

/* The durable store (top comment, section 13): a record the client asks it to keep. */
enum {
    MQTTC_STORED_PUBLISH = 1, /* outgoing QoS 1/2: data is the PUBLISH packet, DUP set once it
                                 was written (never written: after a restart it goes as new) */
    MQTTC_STORED_PUBREL,      /* outgoing QoS 2 past PUBREC: PUBREL pending (no data) */
    MQTTC_STORED_PUBREC       /* incoming QoS 2 taken, PUBREC sent, PUBREL awaited (no data) */
};
typedef struct mqttc_stored {
    int kind;                  /* MQTTC_STORED_*; PUBLISH and PUBREL are outgoing, PUBREC incoming */
    unsigned short packet_id;
    const unsigned char *data; /* PUBLISH only (valid during the call) */
    size_t len;
} mqttc_stored;
/* Four calls and their context; each returns MQTTC_OK or an error. put keeps r, replacing
   what the store held for the same direction (outgoing or incoming) and packet id; remove
   drops that (is_incoming: the PUBREC kind); load calls each(arg, r) for every record
   held and stops at the first non-zero; flush makes what was
   put and removed durable (it may do nothing when put and remove already are). load gives
   the records in the order their direction and id were first put (a record put again keeps
   its place): the order the client sends them again in. */
typedef struct mqttc_store {
    int (*put)(void *ctx, const mqttc_stored *r);
    int (*remove)(void *ctx, int is_incoming, unsigned short packet_id);
    int (*load)(void *ctx, int (*each)(void *arg, const mqttc_stored *r), void *arg);
    int (*flush)(void *ctx);
    void *ctx;
} mqttc_store;

/* Run-time options. All-zero means defaults. Pointers are borrowed: what they point to must
   stay valid until mqttc_deinit (a reconnect sends them again). */
typedef struct mqttc_options {
    const char *client_id;         /* default: "mqttc" + 18 random [0-9a-zA-Z] (23 chars) */
    unsigned keepalive_s;          /* seconds, 1..65535; default 60 */
    int no_keepalive;              /* 1: keepalive off (sends 0; never pings) */
    int no_clean_session;          /* 1: keep the session across connections; default clean */
    const char *username;          /* default none */
    const void *password;          /* default none; binary; needs username [MQTT-3.1.2-22] */
    size_t password_len;           /* bytes of password */
    const char *will_topic;        /* default none: no will */
    const void *will_payload;      /* binary */
    size_t will_payload_len;       /* bytes */
    int will_qos, will_retain;     /* 0..2; 0/1 */
    unsigned connect_timeout_ms;   /* TCP + handshake + CONNACK; default 30000 */
    unsigned disconnect_timeout_ms; /* mqttc_disconnect: QoS 1/2 flows to finish and
                                      DISCONNECT to be written; default 10000 */
    unsigned ping_timeout_ms;      /* wait for PINGRESP; default and at most keepalive */
    size_t max_packet_size;        /* largest incoming packet, bytes; default 16 MiB */
    unsigned max_inflight;         /* outgoing QoS 1/2 messages unacknowledged; default 20
                                      (MQTTC_DEFAULT_MAX_INFLIGHT: mosquitto's limit) */
    unsigned max_inflight_in;      /* incoming QoS 2 awaiting PUBREL; default 65535: 3.1.1
                                      sets the broker no bound (mosquitto sent over 60
                                      unreleased in our tests); every id may be in use */
    size_t max_output;             /* bytes queued unsent before publish says BUSY; 64 KiB */
    void *mem;                     /* caller-supplied memory: no allocation at all */
    size_t mem_size;               /* bytes of mem; split 1/4 each: rx, tx, in-flight, subs */
    mqttc_message_fn on_message;   /* messages no per-filter handler takes */
    mqttc_published_fn on_published; /* QoS 1/2 completion; default none */
    mqttc_trace_fn on_trace;       /* every packet sent and received; default none */
    mqttc_status_fn on_status;     /* connected, connect failed, connection lost */
    void *user;                    /* passed to on_message, on_published, on_trace, on_status */
    void (*lock)(void *lock_user); /* recursive mutex hooks for multi-threaded use */
    void (*unlock)(void *lock_user);
    void *lock_user;
    /* TLS (top comment, section 8). The fields exist in every build; without
       MQTTC_WITH_OPENSSL, secure = 1 or any tls_ field makes mqttc_init fail with
       MQTTC_ERR_ARG; with it, a tls_ field on a connection that is not TLS makes the connect
       fail so (never a silent plain-text connection). */
    int secure;                    /* 1: TLS over every connection; default port 8883 */
    const char *tls_ca_file;       /* PEM file of trusted CAs; default: the system store */
    const char *tls_ca_path;       /* directory of hashed CA certificates (c_rehash) */
    const char *tls_cert_file;     /* client certificate chain, PEM; default none */
    const char *tls_key_file;      /* its private key, PEM, unencrypted; default: in cert */
    const char *tls_server_name;   /* SNI and the name checked; default: the host connected */
    int tls_verify;                /* 1: check chain and name even without credentials */
    int tls_insecure_skip_hostname_check; /* 1: trust any name in a trusted chain (tests!) */
    const char *tls_alpn;          /* ALPN protocols offered, comma-separated ("mqtt",
                                      "x-amzn-mqtt-ca"); default none */
    /* MQTT 5 (top comment, section 11). protocol_version 5 turns the rest on; each is an
       error with 0 or 4 unless empty. */
    int protocol_version;          /* 0 or 4: MQTT 3.1.1 (default); 5: MQTT 5.0 */
    uint32_t session_expiry_s;     /* Session Expiry Interval; 0 (default): the session ends
                                      with the connection; 0xFFFFFFFF: never */
    unsigned topic_alias_in;       /* Topic Alias Maximum we accept from the broker; 0 none */
    unsigned topic_alias_out;      /* aliases we assign to topics we publish (least recently
                                      used replaced), up to the broker's maximum; 0 off */
    mqttc_props connect_props;     /* more CONNECT properties (borrowed): user properties,
                                      request problem/response info, authentication method
                                      and data; not those the fields above set */
    mqttc_props will_props;        /* the will's (borrowed): delay, expiry, content type, ... */
    mqttc_auth_fn on_auth;         /* enhanced authentication; default none */
    /* Staying connected (top comment, section 12). All-zero: no automatic reconnect. */
    unsigned reconnect_min_ms;     /* the first delay before dialling again; 0: never */
    unsigned reconnect_max_ms;     /* the delay doubles up to this; default 60000 */
    unsigned reconnect_reset_ms;   /* a link up this long: the next delay starts at min again;
                                      default 30000 */
    int reconnect_first;           /* 1: a first connect that fails is retried too */
    const char *const *brokers;    /* more brokers ("host" or "host:port"), tried in turn after
                                      the one connected first; NULL-terminated; borrowed */
    int (*reconnect_transport)(mqttc_client *c, mqttc_transport *t, void *user);
                                   /* a connection begun by mqttc_adopt_fd or _start_transport
                                      is dialled again through this: fill *t, MQTTC_OK */
    size_t queue_bytes;            /* QoS 1/2 publishes accepted while offline or while the
                                      window is full, up to this many bytes; 0: none (BUSY) */
    int queue_drop_oldest;         /* 1: a full queue drops its oldest (on_dropped); 0: the new
                                      one is refused with MQTTC_ERR_QUEUEFULL */
    int republish_qos2;            /* 1: after a lost session, QoS 2 messages go again as new
                                      ones; 0 (default): they are reported (on_dropped) */
    int no_resubscribe;            /* 1: subscriptions are not made again after a lost session */
    uint32_t random_seed;          /* the backoff's jitter; 0: seeded per client */
    mqttc_dropped_fn on_dropped;   /* a message given up, and why; default none */
    /* Transports (top comment, section 8). A URL (mqttc_connect_url) sets TLS and WebSocket
       per connection; these apply to the host-and-port calls and add to a URL. */
    const char *proxy;             /* the next hop: "socks5h://[user:pass@]host[:1080]" (the
                                      proxy resolves the broker's name), "socks5://..." (we
                                      resolve it), "http://[user:pass@]host[:8080]" (HTTP
                                      CONNECT); default none. Borrowed */
    const char *ws_path;           /* MQTT over WebSocket on this request path ("/mqtt");
                                      default none (a ws:// URL sets its own) */
    const char *ws_headers;        /* more upgrade request header lines, each ending "\r\n" */
    const mqttc_store *store;      /* a durable store (section 13); borrowed; default none */
} mqttc_options;

/* Private to the implementation: a byte buffer and a compacting record pool. */
typedef struct mqttc__buf {
    unsigned char *p;
    uint32_t start, len, cap, max; /* data is p[start .. start+len); 32 bits: a packet is at
                                      most 256 MiB, and a small client is a small struct */
    int is_fixed;                  /* caller memory: never reallocated */
} mqttc__buf;

/* The in-flight pool's bookkeeping (>>session): removal marks a record dead and the pool is
   compacted once dead bytes pass half of it; an index finds a record by packet id. Both make
   every per-message operation O(1), amortised, at any window up to 65,535. */
typedef struct mqttc__index {
    uint32_t *slot;     /* open addressing, 1 << bits slots: 0 empty, else offset/16 + 1;
                           NULL until the pool holds MQTTC__INDEX_FROM records (a scan is
                           as fast below that, and an idle client allocates nothing) */
    uint32_t bits;
    uint32_t live;      /* live records in the pool */
    uint32_t dead;      /* bytes of dead records not yet compacted away */
    uint32_t held_from; /* no held PUBLISH lies before this offset */
    uint32_t walking;   /* walks over the pool under way (they keep offsets): no compaction */
} mqttc__index;

struct mqttc_client {
    mqttc_options opt;          /* copy, defaults patched in */
    int state;                  /* mqttc_state_id */
    int error;                  /* first fatal error, sticky until the next connect */
    int session_present;        /* from the last CONNACK */
    mqttc_transport tr;
    mqttc__buf rx, tx;          /* received bytes; bytes waiting to be written */
    mqttc__buf inflight;        /* records of packets awaiting an answer, both directions */
    mqttc__index fl;            /* the in-flight pool's index and dead bytes */
    mqttc__buf subs;            /* records of per-filter handlers */
    unsigned outgoing_qos;      /* outgoing QoS 1/2 publishes in flight */
    unsigned incoming_qos2;     /* incoming QoS 2 ids awaiting PUBREL */
    unsigned short last_id;     /* last packet id handed out */
    int is_corked, in_dispatch, ping_outstanding;
    int is_paused;              /* mqttc_pause: input is not read */
    int rx_pending;             /* packets received after CONNACK wait for the next step */
    uint32_t handler_seq;       /* numbers per-filter handlers in the order they were set */
    const char *bad_arg;        /* the argument behind the last MQTTC_ERR_ARG */
    int sys_errno;              /* errno of the last failed system call */
    int reason_code;            /* the broker's, with the last CONNACK (or refusal) */
    int status_due;             /* an mqttc_status event (MQTTC_EVENT_*) waits to be told */
    uint64_t now_ms, last_tx_ms, last_rx_ms, ping_sent_ms, connect_deadline_ms;
    mqttc__stages stages;       /* >>transport: the stages' per-client state */
    void (*wake)(mqttc_client *c, int is_end); /* >>blocking's hook: wake its loop (output
                                   queued from another thread), or release what it holds */
    int wake_fd[2];             /* >>blocking: mqttc_run's wake-up pipe when lock hooks are set */
    int run_waiting;            /* >>blocking: mqttc_run is blocked in poll */
    char id[24];                /* the generated client id */
    /* MQTT 5, last: the 3.1.1 fields keep their small offsets (short instructions) */
    mqttc__buf peer;            /* MQTT 5, what the broker told us: incoming topic aliases,
                                   the CONNACK's and DISCONNECT's properties, assigned id */
    mqttc__buf aliases_out;     /* MQTT 5: our topic aliases (options.topic_alias_out) */
    mqttc_limits limits;        /* MQTT 5: this connection's CONNACK limits */
    uint32_t sub_id_seq;        /* MQTT 5: the last subscription identifier handed out */
    unsigned held;              /* publishes not yet written on this connection: queued while
                                   offline or past the window (MQTT 5: a smaller Receive Maximum) */
    size_t held_bytes;          /* bytes of the held publishes never written (queue_bytes) */
    /* staying connected */
    long retry_ms;              /* after a loss: dial again after this many ms; -1: stop */
    uint64_t retry_at_ms, up_since_ms;
    unsigned attempt;           /* failed attempts since the link last stayed up */
    unsigned flaps;             /* links accepted then lost before reconnect_reset_ms, in a row */
    unsigned target;            /* 0: the broker connected first; i: options.brokers[i - 1] */
    uint32_t rng;               /* the jitter's state */
    int dial;                   /* how to dial again: 0 not at all, 1 host and port, 2 transport */
    int was_up;                 /* this client reached CONNECTED since the user's connect call */
    const char *detail;         /* what a transport stage found, with the error (static) */
    void (*login)(const mqttc_client *c, mqttc_connect_info *ci); /* this connection's URL
                                   gave a login (MQTTC__LOGIN): puts it in CONNECT */
    int store_failed;           /* a store call failed: the step ends the connection ("store") */
};

/* Sets up c from o (NULL: all defaults). Allocates nothing yet. MQTTC_ERR_ARG for
   contradictory options (password without user name, will QoS 3, ...). */
MQTTC_DEF int mqttc_init(mqttc_client *c, const mqttc_options *o);
/* Closes the connection if open (without DISCONNECT: the will is published) and frees
   every buffer. c may be initialised again afterwards. */
MQTTC_DEF void mqttc_deinit(mqttc_client *c);

/* Blocking: resolves, connects TCP, sends CONNECT, waits for CONNACK, up to
   connect_timeout_ms. port 0 means 1883 (8883 with options.secure; with options.ws_path 80,
   443 with secure). */
MQTTC_DEF int mqttc_connect(mqttc_client *c, const char *host, int port);
/* Non-blocking: resolves (getaddrinfo blocks; numeric addresses do not) and starts the TCP
   connect; mqttc_step completes it. MQTTC_OK means "started". */
MQTTC_DEF int mqttc_connect_start(mqttc_client *c, const char *host, int port, uint64_t now_ms);
/* Starts the MQTT connection over a socket someone else connected. The client makes it
   non-blocking and owns it from now on (it closes it). With options.secure the TLS
   handshake runs over it first (name the broker in options.tls_server_name). */
MQTTC_DEF int mqttc_adopt_fd(mqttc_client *c, int fd, uint64_t now_ms);
/* The built-in TCP stage over a socket someone else connected (made non-blocking; the
   transport's close closes it), for options.reconnect_transport. MQTTC_OK or
   MQTTC_ERR_IO (nothing to close then but fd). Not with MQTTC_NO_SOCKETS. */
MQTTC_DEF int mqttc_tcp_transport(mqttc_transport *t, int fd);
/* Starts the MQTT connection over any transport (copied; the client calls its close). */
MQTTC_DEF int mqttc_start_transport(mqttc_client *c, const mqttc_transport *t, uint64_t now_ms);
/* Non-blocking, as mqttc_connect_start, to the broker a URL names (section 8):
   mqtt://, mqtts:// (TLS), ws://, wss:// (WebSocket, over TLS), each as
   scheme://[user[:password]@]host[:port][/path], host a name, an IPv4 address or an IPv6
   literal in brackets; percent-escapes in the user information. Default ports 1883, 8883,
   80, 443; the path is the WebSocket request's (default "/mqtt"; ignored by mqtt://). The
   user and password are sent in CONNECT unless options.username is set. A reconnect dials
   the same URL. MQTTC_ERR_ARG ("url") for anything else, a scheme this build leaves out
   included, and a URL of 2048 bytes or more. Then mqttc_connect_wait blocks until CONNACK. */
MQTTC_DEF int mqttc_connect_url(mqttc_client *c, const char *url, uint64_t now_ms);

/* Changes the plan after a loss (retry_ms in the status): dial again after ms milliseconds
   (0: at once), or -1: stop. From options.on_status it decides what happens next; while
   WAITING it moves the next attempt, or stops at once (CLOSED, the loss's error kept). */
MQTTC_DEF void mqttc_set_retry(mqttc_client *c, long ms);
/* Publishes held and not yet written: queued while offline or past the window. */
MQTTC_DEF unsigned mqttc_queued(const mqttc_client *c);

/* Connection settings that may change between connections (only while the client is not
   open: MQTTC_ERR_STATE otherwise). The in-memory session is kept. Strings are borrowed as
   in the options. A will: topic NULL removes it. Keepalive 0: off. Login: username NULL
   removes both; a password needs a user name [MQTT-3.1.2-22]. */
MQTTC_DEF int mqttc_set_will(mqttc_client *c, const char *topic, const void *payload, size_t len, int qos,
                             int retain);
MQTTC_DEF int mqttc_set_keepalive(mqttc_client *c, unsigned seconds);
MQTTC_DEF int mqttc_set_clean_session(mqttc_client *c, int is_clean);
MQTTC_DEF int mqttc_set_login(mqttc_client *c, const char *username, const void *password, size_t password_len);
#ifndef MQTTC_NO_MQTT5
/* MQTT 5: the will's properties (borrowed; NULL removes them). */
MQTTC_DEF int mqttc_set_will_props(mqttc_client *c, const mqttc_props *props);
#endif

/* Queues a PUBLISH (topic and payload are copied) and writes it through when the socket is
   idle. qos 0..2. *packet_id (may be NULL) gets the id of a QoS 1/2 message. Returns
   MQTTC_OK once the message is accepted: a QoS 1/2 message then belongs to the session
   until acknowledged (also across reconnects with clean session off), even if the
   connection fails while it is written (the next step reports that). MQTTC_ERR_BUSY when
   the in-flight window or the output buffer is full (step, retry), MQTTC_ERR_ARG for a bad
   topic [MQTT-4.7.3], MQTTC_ERR_STATE when not connected. */
MQTTC_DEF int mqttc_publish(mqttc_client *c, const char *topic, const void *payload, size_t len,
                            int qos, int retain, unsigned short *packet_id);
/* The same from a PUBLISH's info (topic, topic_len, payload, qos, retain; the id and DUP are
   the client's to set). */
MQTTC_DEF int mqttc_publish_with(mqttc_client *c, const mqttc_publish_info *pi, unsigned short *packet_id);
/* Subscribes to one filter. on_suback (may be NULL) gets the broker's answer; on_message
   (may be NULL) takes the messages matching this filter from now on, instead of the global
   options.on_message. Both get user. Subscribing the same filter again replaces its handler
   (with on_message NULL, its messages go to options.on_message again). A handler set while
   a message is being delivered gets the messages after that one. */
MQTTC_DEF int mqttc_subscribe(mqttc_client *c, const char *filter, int qos, mqttc_suback_fn on_suback,
                              mqttc_message_fn on_message, void *user, unsigned short *packet_id);
/* Several filters (count >= 1 [MQTT-3.8.3-3]) in one SUBSCRIBE, qos[i] for filters[i]; one
   SUBACK with a code per filter; on_message (may be NULL) handles all of them. */
MQTTC_DEF int mqttc_subscribe_many(mqttc_client *c, const char *const *filters, const unsigned char *qos,
                                   size_t count, mqttc_suback_fn on_suback, mqttc_message_fn on_message, void *user,
                                   unsigned short *packet_id);
/* The same from a SUBSCRIBE's info: filters, an options byte each (QoS, and in MQTT 5 the
   MQTTC_SUB_* bits), and in MQTT 5 properties (user properties; with on_message the
   subscription identifier is the client's, one per handler, so that each message reaches
   exactly the handlers of the subscriptions it matched, overlapping and $share filters too;
   without one the application may name its own). */
MQTTC_DEF int mqttc_subscribe_with(mqttc_client *c, const mqttc_subscribe_info *si, mqttc_suback_fn on_suback,
                                   mqttc_message_fn on_message, void *user, unsigned short *packet_id);
/* Unsubscribes; the filter's handler is removed when the UNSUBACK arrives. */
MQTTC_DEF int mqttc_unsubscribe(mqttc_client *c, const char *filter, mqttc_unsuback_fn on_unsuback,
                                void *user, unsigned short *packet_id);
MQTTC_DEF int mqttc_unsubscribe_many(mqttc_client *c, const char *const *filters, size_t count,
                                     mqttc_unsuback_fn on_unsuback, void *user, unsigned short *packet_id);
MQTTC_DEF int mqttc_unsubscribe_with(mqttc_client *c, const mqttc_subscribe_info *si, mqttc_unsuback_fn on_unsuback,
                                     void *user, unsigned short *packet_id);
/* Graceful end, as mosquitto_pub ends: no new publish or subscribe is taken (DRAINING), the
   QoS 1/2 flows already open finish (our publishes acknowledged, the broker's QoS 2
   messages released), then DISCONNECT is written and the connection closes: the step that
   closes it returns MQTTC_ERR_DISCONNECT. A PUBLISH that starts a new flow meanwhile is
   neither acknowledged nor delivered: the broker still owns it. When the flows are not done
   within options.disconnect_timeout_ms, DISCONNECT goes all the same and the end is
   MQTTC_ERR_TIMEOUT; mqttc_inflight / mqttc_inflight_in count what was left, kept for a
   later connection with clean session off. Called again while draining, it stops waiting:
   DISCONNECT goes now (the end is "disconnect"; the counts say what was left). Never closes
   at once: the next step does. A connection not yet up (no CONNACK) is closed at once. */
MQTTC_DEF int mqttc_disconnect(mqttc_client *c);
/* The same with MQTT 5's reason code and properties (di NULL: normal). The reason is only
   sent after the drain; 0x04 (disconnect with will) makes the broker publish the will. A
   Session Expiry other than 0 is refused when CONNECT sent 0 [MQTT-3.14.2-2]. */
MQTTC_DEF int mqttc_disconnect_with(mqttc_client *c, const mqttc_disconnect_info *di);
#ifndef MQTTC_NO_MQTT5
/* MQTT 5: re-authentication, AUTH 0x19 with our method and these data [MQTT-4.12.1-1]; the
   broker's answers go to options.on_auth. MQTTC_ERR_STATE without a method or connection. */
MQTTC_DEF int mqttc_reauthenticate(mqttc_client *c, const void *data, size_t len);
#endif

/* The poll-loop interface (top comment, section 4). */
MQTTC_DEF int mqttc_fd(const mqttc_client *c);
MQTTC_DEF unsigned mqttc_events(const mqttc_client *c);
MQTTC_DEF long mqttc_timeout_ms(const mqttc_client *c, uint64_t now_ms);
MQTTC_DEF int mqttc_step(mqttc_client *c, uint64_t now_ms);
/* Corked, output is only queued (up to max_output) until mqttc_flush or uncork. */
MQTTC_DEF void mqttc_cork(mqttc_client *c, int is_corked);
/* Writes what the socket takes now. MQTTC_OK (maybe with output left) or a fatal error. */
MQTTC_DEF int mqttc_flush(mqttc_client *c);

/* Flow control: paused, the client reads nothing, so TCP back-pressure reaches the broker
   (a slow consumer stops the flow instead of piling up messages it has acknowledged).
   Output, publishes and PINGREQs go on; a PINGRESP is not awaited while paused. Step must
   still be called: a client that is not stepped sends no ack and no ping, and the broker
   ends the connection after 1.5 x keepalive of silence [MQTT-3.1.2-24]. */
MQTTC_DEF void mqttc_pause(mqttc_client *c, int is_paused);

MQTTC_DEF int mqttc_state(const mqttc_client *c);
MQTTC_DEF int mqttc_error(const mqttc_client *c);       /* the sticky error, or MQTTC_OK */
MQTTC_DEF unsigned mqttc_inflight(const mqttc_client *c); /* outgoing QoS 1/2 not yet done */
MQTTC_DEF unsigned mqttc_inflight_in(const mqttc_client *c); /* incoming QoS 2 awaiting PUBREL */
MQTTC_DEF int mqttc_session_present(const mqttc_client *c); /* of the last CONNACK: 0 or 1 */
MQTTC_DEF size_t mqttc_pending_output(const mqttc_client *c); /* bytes queued, unsent */
/* After MQTTC_ERR_ARG: which argument or option was wrong ("topic", "options.will_qos",
   "options.tls_ca_file", ...); "" when none was. Static strings. */
MQTTC_DEF const char *mqttc_bad_arg(const mqttc_client *c);
/* The broker's reason code with the last CONNACK, or with the refusal (MQTTC_ERR_REFUSED):
   1 unacceptable protocol version, 2 identifier rejected, 3 server unavailable, 4 bad user
   name or password, 5 not authorized [MQTT-3.2.2-5]. In MQTT 5 the CONNACK's reason code
   (0x80 and above: refused; mqttc_reason_name), or the broker's DISCONNECT's after
   MQTTC_ERR_SERVER_DISCONNECT. */
MQTTC_DEF int mqttc_reason_code(const mqttc_client *c);
/* The client id sent: options.client_id, or the generated one; in MQTT 5 the broker's
   Assigned Client Identifier once it gave one (used on every later connect). */
MQTTC_DEF const char *mqttc_client_id(const mqttc_client *c);
#ifndef MQTTC_NO_MQTT5
/* MQTT 5: this connection's limits from CONNACK (defaults before it, and in 3.1.1). */
MQTTC_DEF const mqttc_limits *mqttc_server_limits(const mqttc_client *c);
#endif
/* The errno of the last failed system call (a refused TCP connect: ECONNREFUSED); 0 if none. */
MQTTC_DEF int mqttc_sys_errno(const mqttc_client *c);
/* What exactly a transport stage found, for the last error: "socks5: connection refused",
   "http proxy: no 200 (mqttc_reason_code: the status)", "websocket: wrong
   Sec-WebSocket-Accept", ...; "" when no stage said anything. Static. With MQTTC_ERR_PROXY
   and _PROXYAUTH mqttc_reason_code is the proxy's reply: the SOCKS5 REP code (1..8) or the
   HTTP status (403, 407, 502, ...). */
MQTTC_DEF const char *mqttc_error_detail(const mqttc_client *c);
MQTTC_DEF const char *mqttc_errname(int err);  /* short stable name, static */
MQTTC_DEF const char *mqttc_strerror(int err); /* a sentence, static */

/* ---- >>blocking declarations: poll(2) around mqttc_step, reading the monotonic clock. ---- */
MQTTC_DEF uint64_t mqttc_now_ms(void);
/* The wait primitive of every blocking call: sleeps until the client has something to do
   (its fd's events, its next deadline) or max_ms pass (-1: no limit), or extra_fd (-1: none)
   becomes readable (a signal pipe, another loop's wake-up). Does not step. Returns 1 when
   extra_fd is readable, 0 otherwise, or MQTTC_ERR_STATE for a client that is not open. */
MQTTC_DEF int mqttc_wait(mqttc_client *c, long max_ms, int extra_fd);
/* For a poll(2) loop of your own: the struct pollfd events (POLLIN, POLLOUT) for what
   mqttc_events asks. */
MQTTC_DEF short mqttc_poll_events(const mqttc_client *c);
/* After mqttc_connect_start, mqttc_adopt_fd or mqttc_start_transport: runs until CONNACK
   (MQTTC_OK) or the connect fails (why), up to connect_timeout_ms. No message is delivered
   before it returns: what came with the CONNACK waits for the next step. */
MQTTC_DEF int mqttc_connect_wait(mqttc_client *c);
/* Runs until the connection ends; returns why (never MQTTC_OK). With reconnect on
   (options.reconnect_min_ms) it runs through the losses until mqttc_disconnect or until
   the client stops trying. */
MQTTC_DEF int mqttc_run(mqttc_client *c);
/* Runs for at most ms milliseconds: MQTTC_OK when the time is up, else why it ended. */
MQTTC_DEF int mqttc_run_for(mqttc_client *c, long ms);

/* ---- >>filestore declarations: the bundled durable store (section 13) ---- */
#ifndef MQTTC_NO_STORE
typedef struct mqttc__fs_entry mqttc__fs_entry;
typedef struct mqttc_file_store {
    mqttc_store store;       /* give &fs.store as options.store */
    unsigned skipped;        /* records found torn or corrupt when opened, and skipped */
    const char *problem;     /* the first such problem, or NULL (static text) */
    /* private */
    int fd, dir_fd;
    uint32_t magic;          /* this log's, random: its records start with it */
    unsigned flush_ms;
    int is_dirty;
    uint64_t synced_ms;
    uint64_t log_bytes, live_bytes;
    mqttc__fs_entry *entries; /* what the log holds now, in the order put */
    size_t count, cap;
    char path[4096];
} mqttc_file_store;
/* Opens (creating it) the store of client_id under dir: dir/<client_id>/log, the id's
   characters other than [A-Za-z0-9._-] escaped. flush_ms: 0, every put and remove is
   synced before it returns; N, at a flush at least N ms after the last sync. MQTTC_OK;
   MQTTC_ERR_ARG (a bad argument), MQTTC_ERR_BUSY (another process holds it),
   MQTTC_ERR_STORE (the file system said no: errno tells). */
MQTTC_DEF int mqttc_file_store_open(mqttc_file_store *fs, const char *dir, const char *client_id, unsigned flush_ms);
/* Syncs and closes; the records stay for the next open. */
MQTTC_DEF void mqttc_file_store_close(mqttc_file_store *fs);
#endif

#ifdef __cplusplus
}
#endif
#endif /* MQTTC_H */

/* ======================================================================================= */
#ifdef MQTTC_IMPLEMENTATION
#ifndef MQTTC_IMPLEMENTATION_INCLUDED
#define MQTTC_IMPLEMENTATION_INCLUDED

#include <string.h>

#ifndef MQTTC_ASSERT
#include <assert.h>
#define MQTTC_ASSERT(x) assert(x)
#endif
#if defined(MQTTC_MALLOC) != defined(MQTTC_FREE) || defined(MQTTC_MALLOC) != defined(MQTTC_REALLOC)
#error "define all of MQTTC_MALLOC, MQTTC_REALLOC and MQTTC_FREE, or none"
#endif
#ifndef MQTTC_MALLOC
#include <stdlib.h>
#define MQTTC_MALLOC(n) malloc(n)
#define MQTTC_REALLOC(p, n) realloc(p, n)
#define MQTTC_FREE(p) free(p)
#endif

/* >>util ---------------------------------------------------------------------------------- */

#define MQTTC__MAX_REMAINING 268435455u /* four varint bytes [MQTT-2.2.3] */

static unsigned mqttc__get16(const unsigned char *p) { return ((unsigned)p[0] << 8) | p[1]; }

static unsigned char *mqttc__put16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
    return p + 2;
}

/* Bytes the remaining-length varint takes; 0 when the value cannot be encoded. */
static size_t mqttc__varint_size(size_t v) {
    if (v < 128u) return 1;
    if (v < 16384u) return 2;
    if (v < 2097152u) return 3;
    if (v <= MQTTC__MAX_REMAINING) return 4;
    return 0;
}

static unsigned char *mqttc__put_varint(unsigned char *p, size_t v) {
    do {
        unsigned char b = (unsigned char)(v & 127u);
        v >>= 7;
        *p++ = (unsigned char)(v ? b | 128u : b);
    } while (v);
    return p;
}

static unsigned char *mqttc__put_str(unsigned char *p, mqttc_str s) {
    p = mqttc__put16(p, (unsigned)s.len);
    if (s.len) memcpy(p, s.ptr, s.len);
    return p + s.len;
}

/* Well-formed UTF-8 without U+0000 and without surrogates [MQTT-1.5.3-1/2]; overlong
   forms and code points above U+10FFFF are ill-formed too (RFC 3629). */
MQTTC_DEF int mqttc_utf8_check(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i], need, cp, min;
        if (c == 0) return MQTTC_ERR_ARG;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; min = 0x10000; }
        else return MQTTC_ERR_ARG;
        if (len - i <= need) return MQTTC_ERR_ARG;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return MQTTC_ERR_ARG;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return MQTTC_ERR_ARG;
        i += need + 1;
    }
    return MQTTC_OK;
}

/* A topic name: 1..65535 bytes [MQTT-4.7.3-1/3], UTF-8 without NUL, no wildcards
   [MQTT-3.3.2-2]. */
MQTTC_DEF int mqttc_topic_check(const char *topic, size_t len) {
    if (!topic || len == 0 || len > 65535u) return MQTTC_ERR_ARG;
    if (memchr(topic, '+', len) || memchr(topic, '#', len)) return MQTTC_ERR_ARG;
    return mqttc_utf8_check(topic, len);
}

/* A topic filter: `#` only last and alone in its level [MQTT-4.7.1-2], `+` a whole level
   [MQTT-4.7.1-3]. */
MQTTC_DEF int mqttc_filter_check(const char *f, size_t len) {
    if (!f || len == 0 || len > 65535u) return MQTTC_ERR_ARG;
    for (size_t i = 0; i < len; i++) {
        int starts_level = i == 0 || f[i - 1] == '/';
        int ends_level = i + 1 == len || f[i + 1] == '/';
        if (f[i] == '#' && !(starts_level && i + 1 == len)) return MQTTC_ERR_ARG;
        if (f[i] == '+' && !(starts_level && ends_level)) return MQTTC_ERR_ARG;
    }
    return mqttc_utf8_check(f, len);
}

/* [MQTT-4.7.1-2/3]; a filter starting with a wildcard does not match a topic starting with
   `$` [MQTT-4.7.2-1]. "sport/#" also matches "sport" (the parent level, [MQTT-4.7.1-2]). */
MQTTC_DEF int mqttc_topic_matches(const char *f, size_t flen, const char *t, size_t tlen) {
    size_t i = 0, j = 0;
    if (tlen && t[0] == '$' && flen && (f[0] == '+' || f[0] == '#')) return 0;
    while (i < flen) {
        if (f[i] == '#') return 1;
        if (f[i] == '+') {
            while (j < tlen && t[j] != '/') j++;
            i++;
        } else {
            if (j >= tlen || f[i] != t[j]) {
                /* "a/#" matches "a": the filter's rest is exactly "/#" */
                return j == tlen && flen - i == 2 && f[i] == '/' && f[i + 1] == '#';
            }
            i++;
            j++;
        }
    }
    return j == tlen;
}

/* ---- text for the transports: base64 (RFC 4648), SHA-1 (RFC 3174), case-blind words ---- */
#if !defined(MQTTC_NO_SOCKETS) && (!defined(MQTTC_NO_WEBSOCKET) || !defined(MQTTC_NO_PROXY))
/* out gets 4 * ceil(len / 3) characters and a NUL; returns their count. */
static size_t mqttc__base64(const unsigned char *in, size_t len, char *out) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[n++] = tab[v >> 18 & 63];
        out[n++] = tab[v >> 12 & 63];
        out[n++] = tab[v >> 6 & 63];
        out[n++] = tab[v & 63];
    }
    if (i < len) { /* one or two bytes left: padded with '=' */
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0u);
        out[n++] = tab[v >> 18 & 63];
        out[n++] = tab[v >> 12 & 63];
        out[n++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
        out[n++] = '=';
    }
    out[n] = '\0';
    return n;
}

#endif

#ifndef MQTTC_NO_SOCKETS
static int mqttc__lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch; }

/* 1 when a[0..n) and b[0..n) are the same letters, case aside (HTTP's names, URL schemes). */
static int mqttc__same_word(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (mqttc__lower((unsigned char)a[i]) != mqttc__lower((unsigned char)b[i])) return 0;
    return 1;
}
#endif

#if !defined(MQTTC_NO_SOCKETS) && !defined(MQTTC_NO_WEBSOCKET)
static uint32_t mqttc__rol(uint32_t x, int n) { return x << n | x >> (32 - n); }

static void mqttc__sha1_block(uint32_t h[5], const unsigned char *p) {
    uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = mqttc__rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999u; }
        else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1u; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDCu; }
        else { f = b ^ c ^ d; k = 0xCA62C1D6u; }
        uint32_t t = mqttc__rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = mqttc__rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

/* SHA-1, only for the WebSocket accept key (RFC 6455 4.2.2): no secret rests on it. */
static void mqttc__sha1(const unsigned char *msg, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    unsigned char block[64];
    size_t i = 0;
    for (; i + 64 <= len; i += 64) mqttc__sha1_block(h, msg + i);
    size_t rest = len - i;
    memset(block, 0, sizeof block);
    if (rest) memcpy(block, msg + i, rest);
    block[rest] = 0x80;
    if (rest >= 56) { /* no room for the length: one block more */
        mqttc__sha1_block(h, block);
        memset(block, 0, sizeof block);
    }
    uint64_t bits = (uint64_t)len * 8u;
    for (int j = 0; j < 8; j++) block[63 - j] = (unsigned char)(bits >> (8 * j));
    mqttc__sha1_block(h, block);
    for (int j = 0; j < 5; j++) {
        out[4 * j] = (unsigned char)(h[j] >> 24);
        out[4 * j + 1] = (unsigned char)(h[j] >> 16);
        out[4 * j + 2] = (unsigned char)(h[j] >> 8);
        out[4 * j + 3] = (unsigned char)h[j];
    }
}
#endif

/* >>codec --------------------------------------------------------------------------------- */

/* Fixed-header flags every type must carry [MQTT-2.2.2-1]; PUBLISH is checked apart. */
static unsigned mqttc__required_flags(int type) {
    return (type == MQTTC_PUBREL || type == MQTTC_SUBSCRIBE || type == MQTTC_UNSUBSCRIBE) ? 2u : 0u;
}

/* MQTTC_NO_MQTT5 folds every MQTT 5 branch to a constant 0, and the compiler drops them. */
#ifdef MQTTC_NO_MQTT5
#define MQTTC__HAS_V5 0
#else
#define MQTTC__HAS_V5 1
#endif
static int mqttc__is_v5(int version) { return MQTTC__HAS_V5 && version == MQTTC_PROTOCOL_5; }
static int mqttc__version_ok(int version) {
    return version == 0 || version == MQTTC_PROTOCOL_311 || mqttc__is_v5(version);
}

/* Writes the fixed header for a packet of `remaining` bytes after it; checks room first.
   Returns the position after the header, or NULL with *n set to the packet's full size. */
static unsigned char *mqttc__begin(unsigned char *buf, size_t cap, unsigned first_byte,
                                   size_t remaining, size_t *n, int *rc) {
    size_t vs = mqttc__varint_size(remaining);
    if (vs == 0) { *n = 0; *rc = MQTTC_ERR_ARG; return NULL; }
    *n = 1 + vs + remaining;
    if (!buf || cap < *n) { *rc = MQTTC_ERR_NOSPACE; return NULL; }
    *rc = MQTTC_OK;
    buf[0] = (unsigned char)first_byte;
    return mqttc__put_varint(buf + 1, remaining);
}

static int mqttc__str_ok(mqttc_str s) { return s.len <= 65535u && (s.len == 0 || s.ptr); }

/* ---- MQTT 5 properties [MQTT-2.2.2] ---- */

/* A cursor over one packet's variable header and payload; every read is bounds-checked. */
typedef struct mqttc__reader {
    const unsigned char *p, *end;
} mqttc__reader;

static int mqttc__read16(mqttc__reader *r, unsigned *v) {
    if (r->end - r->p < 2) return MQTTC_ERR_MALFORMED;
    *v = mqttc__get16(r->p);
    r->p += 2;
    return MQTTC_OK;
}

/* A length-prefixed string that must lie inside the packet; utf8 says whether to check it. */
static int mqttc__read_str(mqttc__reader *r, mqttc_str *s, int utf8) {
    unsigned len;
    if (mqttc__read16(r, &len) != MQTTC_OK || (size_t)(r->end - r->p) < len) return MQTTC_ERR_MALFORMED;
    s->ptr = (const char *)r->p;
    s->len = len;
    r->p += len;
    if (utf8 && mqttc_utf8_check(s->ptr, len) != MQTTC_OK) return MQTTC_ERR_MALFORMED; /* [MQTT-1.5.3-1] */
    return MQTTC_OK;
}

/* A variable byte integer in as few bytes as possible [MQTT-1.5.5-1], at most four. */
static int mqttc__read_varint(mqttc__reader *r, uint32_t *v) {
    uint32_t value = 0;
    if (r->p < r->end && *r->p < 128u) { /* one byte: the common case */
        *v = *r->p++;
        return MQTTC_OK;
    }
    for (unsigned i = 0; i < 4 && r->p < r->end; i++) {
        unsigned b = *r->p++;
        value |= (uint32_t)(b & 127u) << (7 * i);
        if (!(b & 128u)) {
            if (i > 0 && b == 0) return MQTTC_ERR_MALFORMED;
            *v = value;
            return MQTTC_OK;
        }
    }
    return MQTTC_ERR_MALFORMED;
}

/* Value types, and the packets each property may appear in: a bit per packet type, bit 0
   for the will [MQTT-2.2.2.2]. */
enum { MQTTC__T_BYTE = 1, MQTTC__T_U16, MQTTC__T_U32, MQTTC__T_VARINT, MQTTC__T_STR, MQTTC__T_BIN, MQTTC__T_PAIR };
#define MQTTC__IN(t) (1u << MQTTC_##t)
#define MQTTC__IN_WILL 1u
#define MQTTC__IN_MESSAGE (MQTTC__IN(PUBLISH) | MQTTC__IN_WILL)
#define MQTTC__IN_ACKS (MQTTC__IN(PUBACK) | MQTTC__IN(PUBREC) | MQTTC__IN(PUBREL) | MQTTC__IN(PUBCOMP))
#define MQTTC__IN_ALL 0xCFFEu /* every packet with properties: all but PINGREQ and PINGRESP */

typedef struct mqttc__prop_rule {
    unsigned char id, type;
    unsigned short where;
} mqttc__prop_rule;

static const mqttc__prop_rule mqttc__prop_rules[] = {
    {MQTTC_PROP_PAYLOAD_FORMAT, MQTTC__T_BYTE, MQTTC__IN_MESSAGE},
    {MQTTC_PROP_MESSAGE_EXPIRY, MQTTC__T_U32, MQTTC__IN_MESSAGE},
    {MQTTC_PROP_CONTENT_TYPE, MQTTC__T_STR, MQTTC__IN_MESSAGE},
    {MQTTC_PROP_RESPONSE_TOPIC, MQTTC__T_STR, MQTTC__IN_MESSAGE},
    {MQTTC_PROP_CORRELATION_DATA, MQTTC__T_BIN, MQTTC__IN_MESSAGE},
    {MQTTC_PROP_SUBSCRIPTION_ID, MQTTC__T_VARINT, MQTTC__IN(PUBLISH) | MQTTC__IN(SUBSCRIBE)},
    {MQTTC_PROP_SESSION_EXPIRY, MQTTC__T_U32, MQTTC__IN(CONNECT) | MQTTC__IN(CONNACK) | MQTTC__IN(DISCONNECT)},
    {MQTTC_PROP_ASSIGNED_CLIENT_ID, MQTTC__T_STR, MQTTC__IN(CONNACK)},
    {MQTTC_PROP_SERVER_KEEP_ALIVE, MQTTC__T_U16, MQTTC__IN(CONNACK)},
    {MQTTC_PROP_AUTH_METHOD, MQTTC__T_STR, MQTTC__IN(CONNECT) | MQTTC__IN(CONNACK) | MQTTC__IN(AUTH)},
    {MQTTC_PROP_AUTH_DATA, MQTTC__T_BIN, MQTTC__IN(CONNECT) | MQTTC__IN(CONNACK) | MQTTC__IN(AUTH)},
    {MQTTC_PROP_REQUEST_PROBLEM_INFO, MQTTC__T_BYTE, MQTTC__IN(CONNECT)},
    {MQTTC_PROP_WILL_DELAY, MQTTC__T_U32, MQTTC__IN_WILL},
    {MQTTC_PROP_REQUEST_RESPONSE_INFO, MQTTC__T_BYTE, MQTTC__IN(CONNECT)},
    {MQTTC_PROP_RESPONSE_INFO, MQTTC__T_STR, MQTTC__IN(CONNACK)},
    {MQTTC_PROP_SERVER_REFERENCE, MQTTC__T_STR, MQTTC__IN(CONNACK) | MQTTC__IN(DISCONNECT)},
    {MQTTC_PROP_REASON_STRING, MQTTC__T_STR,
     MQTTC__IN(CONNACK) | MQTTC__IN_ACKS | MQTTC__IN(SUBACK) | MQTTC__IN(UNSUBACK) | MQTTC__IN(DISCONNECT) |
         MQTTC__IN(AUTH)},
    {MQTTC_PROP_RECEIVE_MAX, MQTTC__T_U16, MQTTC__IN(CONNECT) | MQTTC__IN(CONNACK)},
    {MQTTC_PROP_TOPIC_ALIAS_MAX, MQTTC__T_U16, MQTTC__IN(CONNECT) | MQTTC__IN(CONNACK)},
    {MQTTC_PROP_TOPIC_ALIAS, MQTTC__T_U16, MQTTC__IN(PUBLISH)},
    {MQTTC_PROP_MAX_QOS, MQTTC__T_BYTE, MQTTC__IN(CONNACK)},
    {MQTTC_PROP_RETAIN_AVAILABLE, MQTTC__T_BYTE, MQTTC__IN(CONNACK)},
    {MQTTC_PROP_USER, MQTTC__T_PAIR, MQTTC__IN_ALL | MQTTC__IN_WILL},
    {MQTTC_PROP_MAX_PACKET_SIZE, MQTTC__T_U32, MQTTC__IN(CONNECT) | MQTTC__IN(CONNACK)},
    {MQTTC_PROP_WILDCARD_SUB_AVAILABLE, MQTTC__T_BYTE, MQTTC__IN(CONNACK)},
    {MQTTC_PROP_SUB_ID_AVAILABLE, MQTTC__T_BYTE, MQTTC__IN(CONNACK)},
    {MQTTC_PROP_SHARED_SUB_AVAILABLE, MQTTC__T_BYTE, MQTTC__IN(CONNACK)},
};

static const mqttc__prop_rule *mqttc__prop_rule_of(int id) {
    for (size_t i = 0; i < sizeof mqttc__prop_rules / sizeof mqttc__prop_rules[0]; i++)
        if (mqttc__prop_rules[i].id == id) return &mqttc__prop_rules[i];
    return NULL;
}

/* One property from raw bytes. An id the spec does not define is malformed [MQTT-2.2.2.2]. */
static int mqttc__read_prop(mqttc__reader *r, mqttc_prop *out) {
    memset(out, 0, sizeof *out);
    if (r->p >= r->end) return MQTTC_ERR_MALFORMED;
    const mqttc__prop_rule *rule = mqttc__prop_rule_of(*r->p);
    if (!rule) return MQTTC_ERR_MALFORMED;
    out->id = *r->p++;
    unsigned v16;
    switch (rule->type) {
    case MQTTC__T_BYTE:
        if (r->p >= r->end) return MQTTC_ERR_MALFORMED;
        out->value = *r->p++;
        return MQTTC_OK;
    case MQTTC__T_U16:
        if (mqttc__read16(r, &v16)) return MQTTC_ERR_MALFORMED;
        out->value = v16;
        return MQTTC_OK;
    case MQTTC__T_U32:
        if (r->end - r->p < 4) return MQTTC_ERR_MALFORMED;
        out->value = ((uint32_t)mqttc__get16(r->p) << 16) | mqttc__get16(r->p + 2);
        r->p += 4;
        return MQTTC_OK;
    case MQTTC__T_VARINT: return mqttc__read_varint(r, &out->value);
    case MQTTC__T_STR: return mqttc__read_str(r, &out->str, 1);
    case MQTTC__T_BIN: return mqttc__read_str(r, &out->str, 0);
    default: /* a pair: both halves UTF-8 strings [MQTT-1.5.7-1] */
        return mqttc__read_str(r, &out->str, 1) ? MQTTC_ERR_MALFORMED : mqttc__read_str(r, &out->val, 1);
    }
}

/* The set's next property: raw bytes first, then the list. 1, 0 at the end, or an error. */
static int mqttc__props_next(const mqttc_props *ps, size_t *pos, mqttc_prop *out) {
    if (*pos < ps->len) {
        mqttc__reader r = {ps->ptr + *pos, ps->ptr + ps->len};
        int rc = mqttc__read_prop(&r, out);
        if (rc != MQTTC_OK) return rc;
        *pos = (size_t)(r.p - ps->ptr);
        return 1;
    }
    if (*pos - ps->len >= ps->count || !ps->list) return 0;
    *out = ps->list[*pos - ps->len];
    (*pos)++;
    return 1;
}

/* Bytes one property takes on the wire (its id is one byte: every id is below 128). */
static size_t mqttc__prop_size(const mqttc_prop *pr, int type) {
    switch (type) {
    case MQTTC__T_BYTE: return 2;
    case MQTTC__T_U16: return 3;
    case MQTTC__T_U32: return 5;
    case MQTTC__T_VARINT: return 1 + mqttc__varint_size(pr->value);
    case MQTTC__T_PAIR: return 5 + pr->str.len + pr->val.len;
    default: return 3 + pr->str.len;
    }
}

/* A UTF-8 string of at most 65535 bytes [MQTT-1.5.4]. */
static int mqttc__text_ok(mqttc_str s) { return mqttc__str_ok(s) && mqttc_utf8_check(s.ptr, s.len) == MQTTC_OK; }

/* A property's value against its type and the spec's ranges: 0/1 bytes, no zero Receive
   Maximum, Maximum Packet Size or Subscription Identifier [MQTT-3.1.2.11],
   strings UTF-8, a Response Topic a topic name [MQTT-3.3.2-14]. MQTTC_ERR_PROTOCOL for a
   value the type allows but the spec does not. */
static int mqttc__prop_value_ok(const mqttc_prop *pr, int type) {
    switch (type) {
    case MQTTC__T_BYTE:
        if (pr->value > 255u) return MQTTC_ERR_MALFORMED;
        if (pr->value > 1u) return MQTTC_ERR_PROTOCOL; /* every byte property is 0 or 1 */
        return MQTTC_OK;
    case MQTTC__T_U16:
        if (pr->value > 65535u) return MQTTC_ERR_MALFORMED;
        break;
    case MQTTC__T_VARINT:
        if (pr->value > MQTTC__MAX_REMAINING) return MQTTC_ERR_MALFORMED;
        break;
    case MQTTC__T_U32: break;
    case MQTTC__T_PAIR: return mqttc__text_ok(pr->str) && mqttc__text_ok(pr->val) ? MQTTC_OK : MQTTC_ERR_MALFORMED;
    case MQTTC__T_STR:
        if (!mqttc__text_ok(pr->str)) return MQTTC_ERR_MALFORMED;
        if (pr->id == MQTTC_PROP_RESPONSE_TOPIC && mqttc_topic_check(pr->str.ptr, pr->str.len)) return MQTTC_ERR_PROTOCOL;
        return MQTTC_OK;
    default: return mqttc__str_ok(pr->str) ? MQTTC_OK : MQTTC_ERR_MALFORMED;
    }
    /* (Topic Alias 0 is the receiver's to refuse, with its own reason code 0x94) */
    if (pr->value == 0 && (pr->id == MQTTC_PROP_RECEIVE_MAX || pr->id == MQTTC_PROP_MAX_PACKET_SIZE ||
                           pr->id == MQTTC_PROP_SUBSCRIPTION_ID))
        return MQTTC_ERR_PROTOCOL;
    return MQTTC_OK;
}

/* The whole set against the rules for packet `type` (0: the will): each property allowed
   there and valid, none repeated but user properties and a PUBLISH's subscription ids.
   *body gets the bytes the set takes without its length prefix. MQTTC_ERR_MALFORMED for
   bytes that do not parse or a property not allowed there [MQTT-2.2.2.2],
   MQTTC_ERR_PROTOCOL for a repeat or a value out of range. */
static int mqttc__props_verify(const mqttc_props *ps, int type, size_t *body) {
    uint64_t seen = 0;
    size_t pos = 0;
    mqttc_prop pr;
    int rc;
    *body = ps->len;
    if (!ps->len && !ps->count) return MQTTC_OK; /* the common case: none */
    if ((ps->len && !ps->ptr) || (ps->count && !ps->list)) return MQTTC_ERR_MALFORMED;
    while ((rc = mqttc__props_next(ps, &pos, &pr)) == 1) {
        const mqttc__prop_rule *rule = mqttc__prop_rule_of(pr.id);
        if (!rule || !(rule->where & (1u << type))) return MQTTC_ERR_MALFORMED;
        rc = mqttc__prop_value_ok(&pr, rule->type);
        if (rc != MQTTC_OK) return rc;
        int may_repeat = pr.id == MQTTC_PROP_USER || (pr.id == MQTTC_PROP_SUBSCRIPTION_ID && type == MQTTC_PUBLISH);
        if ((seen >> pr.id & 1u) && !may_repeat) return MQTTC_ERR_PROTOCOL;
        seen |= (uint64_t)1 << pr.id;
        if (pos > ps->len) *body += mqttc__prop_size(&pr, rule->type); /* a list entry */
    }
    if (rc != 0) return rc;
    return *body <= MQTTC__MAX_REMAINING ? MQTTC_OK : MQTTC_ERR_MALFORMED;
}

static unsigned char *mqttc__put32(unsigned char *p, uint32_t v) {
    return mqttc__put16(mqttc__put16(p, (unsigned)(v >> 16)), (unsigned)(v & 0xFFFFu));
}

static unsigned char *mqttc__put_prop(unsigned char *p, const mqttc_prop *pr) {
    const mqttc__prop_rule *rule = mqttc__prop_rule_of(pr->id);
    *p++ = (unsigned char)pr->id;
    switch (rule->type) {
    case MQTTC__T_BYTE: *p++ = (unsigned char)pr->value; return p;
    case MQTTC__T_U16: return mqttc__put16(p, pr->value);
    case MQTTC__T_U32: return mqttc__put32(p, pr->value);
    case MQTTC__T_VARINT: return mqttc__put_varint(p, pr->value);
    case MQTTC__T_PAIR: return mqttc__put_str(mqttc__put_str(p, pr->str), pr->val);
    default: return mqttc__put_str(p, pr->str);
    }
}

/* A verified set: its length, the raw bytes, then the list. */
static unsigned char *mqttc__put_props(unsigned char *p, const mqttc_props *ps, size_t body) {
    if (!body) { *p = 0; return p + 1; }
    p = mqttc__put_varint(p, body);
    if (ps->len) memcpy(p, ps->ptr, ps->len);
    p += ps->len;
    for (size_t i = 0; i < ps->count; i++) p = mqttc__put_prop(p, &ps->list[i]);
    return p;
}

/* For the encoders: the set's body size for packet `type` in `version`, or MQTTC_ERR_ARG
   (in 3.1.1 a set must be empty). *wire gets the bytes with the length prefix (0 in 3.1.1).
   Under MQTTC_NO_MQTT5 property sets are not read at all (the small build). */
static int mqttc__props_for(const mqttc_props *ps, int version, int type, size_t *body, size_t *wire) {
    *body = *wire = 0;
    if (!MQTTC__HAS_V5) return MQTTC_OK; /* MQTTC_NO_MQTT5: the properties fields are not read */
    if (!mqttc__is_v5(version)) return ps->len || ps->count ? MQTTC_ERR_ARG : MQTTC_OK;
    if (!ps->len && !ps->count) { *wire = 1; return MQTTC_OK; } /* none: the length byte 0 */
    if (mqttc__props_verify(ps, type, body) != MQTTC_OK) return MQTTC_ERR_ARG;
    *wire = mqttc__varint_size(*body) + *body;
    return MQTTC_OK;
}

/* Reason codes each packet may carry [MQTT-2.4], as byte strings for memchr. */
#define MQTTC__RC_CONNACK "\x00\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8A\x8C\x90\x95\x97\x99\x9A\x9B\x9C\x9D\x9F"
#define MQTTC__RC_PUB "\x00\x10\x80\x83\x87\x90\x91\x97\x99"     /* PUBACK, PUBREC [MQTT-3.4.2-1] */
#define MQTTC__RC_REL "\x00\x92"                                 /* PUBREL, PUBCOMP [MQTT-3.6.2-1] */
#define MQTTC__RC_SUBACK "\x00\x01\x02\x80\x83\x87\x8F\x91\x97\x9E\xA1\xA2"
#define MQTTC__RC_UNSUBACK "\x00\x11\x80\x83\x87\x8F\x91"
#define MQTTC__RC_DISCONNECT                                                                  \
    "\x00\x04\x80\x81\x82\x83\x87\x89\x8B\x8C\x8D\x8E\x8F\x90\x93\x94\x95\x96\x97\x98\x99\x9A\x9B\x9C\x9D\x9E\x9F\xA0" \
    "\xA1\xA2"
#define MQTTC__RC_AUTH "\x00\x18\x19"

/* code is one of set[0..len): set is a string literal, its NUL not counted. */
static int mqttc__rc_in(int code, const char *set, size_t len) {
    return code >= 0 && code <= 255 && memchr(set, code, len) != NULL;
}
#define MQTTC__RC_OK(code, set) mqttc__rc_in(code, set, sizeof set - 1)

static int mqttc__rc_ok_for(int type, int code) {
    if (code == 0) return 1; /* success: every packet with a reason code has it */
    switch (type) {
    case MQTTC_CONNACK: return MQTTC__RC_OK(code, MQTTC__RC_CONNACK);
    case MQTTC_PUBACK: case MQTTC_PUBREC: return MQTTC__RC_OK(code, MQTTC__RC_PUB);
    case MQTTC_PUBREL: case MQTTC_PUBCOMP: return MQTTC__RC_OK(code, MQTTC__RC_REL);
    case MQTTC_SUBACK: return MQTTC__RC_OK(code, MQTTC__RC_SUBACK);
    case MQTTC_UNSUBACK: return MQTTC__RC_OK(code, MQTTC__RC_UNSUBACK);
    case MQTTC_DISCONNECT: return MQTTC__RC_OK(code, MQTTC__RC_DISCONNECT);
    default: return MQTTC__RC_OK(code, MQTTC__RC_AUTH);
    }
}

/* The first property with this id: 1 with *out set (out may be NULL), else 0. */
static int mqttc__props_find(const mqttc_props *ps, int id, mqttc_prop *out) {
    mqttc_prop pr;
    size_t pos = 0;
    if (!ps->len && !ps->count) return 0;
    while (mqttc__props_next(ps, &pos, &pr) == 1) {
        if (pr.id != id) continue;
        if (out) *out = pr;
        return 1;
    }
    return 0;
}

#ifndef MQTTC_NO_MQTT5
MQTTC_DEF int mqttc_props_next(const mqttc_props *ps, size_t *pos, mqttc_prop *out) {
    return mqttc__props_next(ps, pos, out);
}

MQTTC_DEF int mqttc_props_get(const mqttc_props *ps, int id, mqttc_prop *out) { return mqttc__props_find(ps, id, out); }

MQTTC_DEF int mqttc_props_check(const mqttc_props *ps, int type) {
    size_t body;
    if (!ps || type < 0 || type > MQTTC_AUTH) return MQTTC_ERR_ARG;
    return mqttc__props_verify(ps, type, &body) == MQTTC_OK ? MQTTC_OK : MQTTC_ERR_ARG;
}

MQTTC_DEF size_t mqttc_props_size(const mqttc_props *ps) {
    size_t body = ps->len, pos = ps->len;
    mqttc_prop pr;
    while (mqttc__props_next(ps, &pos, &pr) == 1) {
        const mqttc__prop_rule *rule = mqttc__prop_rule_of(pr.id);
        body += rule ? mqttc__prop_size(&pr, rule->type) : 0;
    }
    return mqttc__varint_size(body) + body;
}

MQTTC_DEF mqttc_prop mqttc_prop_int(int id, uint32_t value) {
    mqttc_prop pr;
    memset(&pr, 0, sizeof pr);
    pr.id = id;
    pr.value = value;
    return pr;
}

MQTTC_DEF mqttc_prop mqttc_prop_bin(int id, const void *data, size_t len) {
    mqttc_prop pr = mqttc_prop_int(id, 0);
    pr.str.ptr = data ? (const char *)data : "";
    pr.str.len = len;
    return pr;
}

MQTTC_DEF mqttc_prop mqttc_prop_str(int id, const char *s) { return mqttc_prop_bin(id, s, s ? strlen(s) : 0); }

MQTTC_DEF mqttc_prop mqttc_prop_user(const char *name, const char *value) {
    mqttc_prop pr = mqttc_prop_str(MQTTC_PROP_USER, name);
    pr.val.ptr = value ? value : "";
    pr.val.len = value ? strlen(value) : 0;
    return pr;
}
#endif

MQTTC_DEF const char *mqttc_reason_name(int reason_code) {
    switch (reason_code) {
#define MQTTC__RC_NAME(name, value, shortname) case value: return shortname;
        MQTTC_REASONS(MQTTC__RC_NAME)
#undef MQTTC__RC_NAME
    default: return "unknown";
    }
}

/* ---- encoding ---- */

static int mqttc__connect_check(const mqttc_connect_info *ci, int version) {
    int has_will = ci->will_topic.ptr != NULL;
    mqttc_prop pr;
    if (!mqttc__str_ok(ci->client_id) || !mqttc__str_ok(ci->username) || !mqttc__str_ok(ci->password))
        return MQTTC_ERR_ARG;
    if (ci->client_id.len == 0 && !ci->clean_session && !mqttc__is_v5(version)) return MQTTC_ERR_ARG; /* [MQTT-3.1.3-7] */
    if (ci->password.ptr && !ci->username.ptr && !mqttc__is_v5(version)) return MQTTC_ERR_ARG; /* [MQTT-3.1.2-22] */
    if (ci->keepalive_s > 65535u || ci->will_qos < 0 || ci->will_qos > 2) return MQTTC_ERR_ARG;
    if (mqttc_utf8_check(ci->client_id.ptr, ci->client_id.len) != MQTTC_OK) return MQTTC_ERR_ARG;
    if (ci->username.ptr && mqttc_utf8_check(ci->username.ptr, ci->username.len)) return MQTTC_ERR_ARG;
    if (has_will && (mqttc_topic_check(ci->will_topic.ptr, ci->will_topic.len) ||
                     !mqttc__str_ok(ci->will_payload)))
        return MQTTC_ERR_ARG;
    if (!has_will && (ci->will_qos || ci->will_retain)) return MQTTC_ERR_ARG; /* [MQTT-3.1.2-13/15] */
    if (MQTTC__HAS_V5 && !has_will && (ci->will_props.len || ci->will_props.count)) return MQTTC_ERR_ARG;
    if (MQTTC__HAS_V5 && has_will && mqttc__props_find(&ci->will_props, MQTTC_PROP_PAYLOAD_FORMAT, &pr) &&
        pr.value == 1 && mqttc_utf8_check(ci->will_payload.ptr, ci->will_payload.len))
        return MQTTC_ERR_ARG; /* a will that says it is UTF-8 must be [MQTT-3.1.3.2.3] */
    return MQTTC_OK;
}

/* CONNECT [MQTT-3.1]: "MQTT", the level, flags, keepalive, (MQTT 5: properties), then id,
   (will properties,) will topic, will message, user name, password in that order
   [MQTT-3.1.3-1]. */
MQTTC_DEF int mqttc_encode_connect(unsigned char *buf, size_t cap, int version, const mqttc_connect_info *ci, size_t *n) {
    static const mqttc_str name = {"MQTT", 4};
    size_t body, wire, will_body, will_wire;
    *n = 0;
    if (!ci || !mqttc__version_ok(version) || mqttc__connect_check(ci, version) != MQTTC_OK) return MQTTC_ERR_ARG;
    if (mqttc__props_for(&ci->props, version, MQTTC_CONNECT, &body, &wire) ||
        mqttc__props_for(&ci->will_props, version, 0, &will_body, &will_wire))
        return MQTTC_ERR_ARG;
    int has_will = ci->will_topic.ptr != NULL, rc;
    size_t rem = 10 + wire + 2 + ci->client_id.len;
    unsigned flags = (ci->clean_session ? 0x02u : 0u);
    if (has_will) {
        rem += will_wire + 4 + ci->will_topic.len + ci->will_payload.len;
        flags |= 0x04u | ((unsigned)ci->will_qos << 3) | (ci->will_retain ? 0x20u : 0u);
    }
    if (ci->username.ptr) { rem += 2 + ci->username.len; flags |= 0x80u; }
    if (ci->password.ptr) { rem += 2 + ci->password.len; flags |= 0x40u; }
    unsigned char *p = mqttc__begin(buf, cap, MQTTC_CONNECT << 4, rem, n, &rc);
    if (!p) return rc;
    p = mqttc__put_str(p, name);
    *p++ = (unsigned char)(mqttc__is_v5(version) ? MQTTC_PROTOCOL_5 : MQTTC_PROTOCOL_311);
    *p++ = (unsigned char)flags;
    p = mqttc__put16(p, ci->keepalive_s);
    if (wire) p = mqttc__put_props(p, &ci->props, body);
    p = mqttc__put_str(p, ci->client_id);
    if (has_will) {
        if (will_wire) p = mqttc__put_props(p, &ci->will_props, will_body);
        p = mqttc__put_str(p, ci->will_topic);
        p = mqttc__put_str(p, ci->will_payload);
    }
    if (ci->username.ptr) p = mqttc__put_str(p, ci->username);
    if (ci->password.ptr) p = mqttc__put_str(p, ci->password);
    return MQTTC_OK;
}

/* A reason code and properties after the variable header's fixed part, as acks, CONNACK,
   DISCONNECT and AUTH carry them in MQTT 5. */
static unsigned char *mqttc__put_reason(unsigned char *p, int code, const mqttc_props *ps, size_t body, size_t wire) {
    *p++ = (unsigned char)code;
    return wire ? mqttc__put_props(p, ps, body) : p;
}

MQTTC_DEF int mqttc_encode_connack(unsigned char *buf, size_t cap, int version, const mqttc_connack_info *ca, size_t *n) {
    size_t body, wire;
    int rc;
    *n = 0;
    if (!ca || !mqttc__version_ok(version) || mqttc__props_for(&ca->props, version, MQTTC_CONNACK, &body, &wire))
        return MQTTC_ERR_ARG;
    if (ca->session_present && ca->reason_code) return MQTTC_ERR_ARG; /* [MQTT-3.2.2-4] (5.0: -6) */
    if (mqttc__is_v5(version) ? !mqttc__rc_ok_for(MQTTC_CONNACK, ca->reason_code)
                              : (ca->reason_code < 0 || ca->reason_code > 255))
        return MQTTC_ERR_ARG;
    unsigned char *p = mqttc__begin(buf, cap, MQTTC_CONNACK << 4, 2 + wire, n, &rc); /* MQTT 5: always */
    if (!p) return rc;                                                                /* a property length */
    *p++ = ca->session_present ? 1 : 0;
    mqttc__put_reason(p, ca->reason_code, &ca->props, body, wire);
    return MQTTC_OK;
}

/* The whole size of a PUBLISH (fixed header, topic, id, properties, payload); 0 when it
   cannot be encoded. The client reserves its buffers by it. props_wire: the properties'
   bytes with their length prefix (0 in 3.1.1). */
static size_t mqttc__publish_size(const mqttc_publish_info *pi, size_t props_wire) {
    size_t rem = 2 + pi->topic_len + (pi->qos ? 2u : 0u) + props_wire + pi->payload_len;
    size_t vs = mqttc__varint_size(rem);
    return vs ? 1 + vs + rem : 0;
}

/* A PUBLISH's topic: a topic name [MQTT-3.3.2-1/2]; empty only with a Topic Alias (MQTT 5,
   [MQTT-3.3.2-7]'s mapping); a payload that says it is UTF-8 must be [MQTT-3.3.2.3.2]. */
static int mqttc__publish_check(const mqttc_publish_info *pi, int version) {
    mqttc_prop pr;
    size_t pos = 0;
    int has_alias = 0, is_text = 0;
    while (mqttc__is_v5(version) && mqttc__props_next(&pi->props, &pos, &pr) == 1) {
        if (pr.id == MQTTC_PROP_TOPIC_ALIAS && pr.value == 0) return MQTTC_ERR_ARG; /* [MQTT-3.3.2-8] */
        has_alias |= pr.id == MQTTC_PROP_TOPIC_ALIAS;
        is_text |= pr.id == MQTTC_PROP_PAYLOAD_FORMAT && pr.value == 1;
    }
    if (is_text && mqttc_utf8_check((const char *)pi->payload, pi->payload_len)) return MQTTC_ERR_ARG;
    if (pi->topic_len == 0 && has_alias) return MQTTC_OK;
    return mqttc_topic_check(pi->topic, pi->topic_len);
}

/* A checked PUBLISH into buf: the client checks once (mqttc__publish_checks), then writes. */
static int mqttc__put_publish(unsigned char *buf, size_t cap, const mqttc_publish_info *pi, size_t body, size_t wire,
                              size_t *n) {
    int rc, qos = pi->qos;
    mqttc_str topic = {pi->topic, pi->topic_len};
    size_t rem = 2 + topic.len + (qos ? 2u : 0u) + wire + pi->payload_len;
    unsigned first = (MQTTC_PUBLISH << 4) | (pi->dup ? 8u : 0u) | ((unsigned)qos << 1) | (pi->retain ? 1u : 0u);
    unsigned char *p = mqttc__begin(buf, cap, first, rem, n, &rc);
    if (!p) return rc;
    p = mqttc__put_str(p, topic);
    if (qos) p = mqttc__put16(p, pi->packet_id);
    if (wire) p = mqttc__put_props(p, &pi->props, body);
    if (pi->payload_len) memcpy(p, pi->payload, pi->payload_len);
    return MQTTC_OK;
}

/* PUBLISH [MQTT-3.3]: DUP only with QoS > 0 [MQTT-3.3.1-2], an id only with QoS > 0
   [MQTT-2.3.1-5], never 0 [MQTT-2.3.1-1]. */
MQTTC_DEF int mqttc_encode_publish(unsigned char *buf, size_t cap, int version, const mqttc_publish_info *pi, size_t *n) {
    size_t body, wire;
    *n = 0;
    if (!pi) return MQTTC_ERR_ARG;
    int qos = pi->qos;
    if (!mqttc__version_ok(version) || qos < 0 || qos > 2 || (qos == 0 && pi->dup) || (qos > 0 && pi->packet_id == 0))
        return MQTTC_ERR_ARG;
    if ((pi->payload_len && !pi->payload) || pi->payload_len > MQTTC__MAX_REMAINING) return MQTTC_ERR_ARG;
    if (mqttc__props_for(&pi->props, version, MQTTC_PUBLISH, &body, &wire) || mqttc__publish_check(pi, version))
        return MQTTC_ERR_ARG;
    return mqttc__put_publish(buf, cap, pi, body, wire, n);
}


/* A SUBSCRIBE's options byte: QoS 0..2 [MQTT-3.8.3-4]; in MQTT 5 No Local (never on a
   shared filter [MQTT-3.8.3-4]), Retain As Published and Retain Handling 0..2, the top two
   bits 0 [MQTT-3.8.3-5]. */
static int mqttc__sub_options_ok(unsigned o, int version, const char *filter, size_t len) {
    if ((o & 3u) > 2) return 0;
    if (!mqttc__is_v5(version)) return o <= 2;
    if ((o & 0xC0u) || ((o >> 4) & 3u) == 3) return 0;
    return !((o & MQTTC_SUB_NO_LOCAL) && len >= 7 && memcmp(filter, "$share/", 7) == 0);
}

/* A `$share/{name}/{filter}` filter: a name of one or more characters without `/ + #`
   [MQTT-4.8.2-1/2], then a filter. Other filters pass. */
static int mqttc__shared_ok(const char *f, size_t len) {
    if (len < 7 || memcmp(f, "$share/", 7) != 0) return 1;
    size_t i = 7;
    while (i < len && f[i] != '/' && f[i] != '+' && f[i] != '#') i++;
    return i > 7 && i + 1 < len && f[i] == '/';
}

/* Shared by SUBSCRIBE and UNSUBSCRIBE: at least one filter [MQTT-3.8.3-3], [MQTT-3.10.3-2];
   for SUBSCRIBE a valid options byte each. */
static int mqttc__encode_filters(unsigned char *buf, size_t cap, int version, int type,
                                 const mqttc_subscribe_info *si, size_t *n) {
    size_t rem = 2, body, wire;
    int rc;
    *n = 0;
    if (!si) return MQTTC_ERR_ARG;
    const unsigned char *opts = type == MQTTC_SUBSCRIBE ? si->options : NULL;
    if (!mqttc__version_ok(version) || si->packet_id == 0 || si->count == 0 || !si->filters) return MQTTC_ERR_ARG;
    if ((type == MQTTC_SUBSCRIBE && !opts) || mqttc__props_for(&si->props, version, type, &body, &wire))
        return MQTTC_ERR_ARG;
    for (size_t i = 0; i < si->count; i++) {
        const char *f = si->filters[i];
        size_t len = f ? strlen(f) : 0;
        if (mqttc_filter_check(f, len) != MQTTC_OK || (mqttc__is_v5(version) && !mqttc__shared_ok(f, len)))
            return MQTTC_ERR_ARG; /* a shared subscription's syntax is MQTT 5's [MQTT-4.8.2-1/2] */
        if (opts && !mqttc__sub_options_ok(opts[i], version, f, len)) return MQTTC_ERR_ARG;
        rem += 2 + len + (opts ? 1u : 0u);
    }
    unsigned char *p = mqttc__begin(buf, cap, ((unsigned)type << 4) | 2u, rem + wire, n, &rc);
    if (!p) return rc;
    p = mqttc__put16(p, si->packet_id);
    if (wire) p = mqttc__put_props(p, &si->props, body);
    for (size_t i = 0; i < si->count; i++) {
        mqttc_str f = {si->filters[i], strlen(si->filters[i])};
        p = mqttc__put_str(p, f);
        if (opts) *p++ = opts[i];
    }
    return MQTTC_OK;
}

MQTTC_DEF int mqttc_encode_subscribe(unsigned char *buf, size_t cap, int version, const mqttc_subscribe_info *si, size_t *n) {
    return mqttc__encode_filters(buf, cap, version, MQTTC_SUBSCRIBE, si, n);
}

MQTTC_DEF int mqttc_encode_unsubscribe(unsigned char *buf, size_t cap, int version, const mqttc_subscribe_info *si,
                                       size_t *n) {
    return mqttc__encode_filters(buf, cap, version, MQTTC_UNSUBSCRIBE, si, n);
}

/* SUBACK return codes are 0x00, 0x01, 0x02 or 0x80 [MQTT-3.9.3-2]; MQTT 5 has more. */
static int mqttc__suback_code_ok(unsigned c, int version) {
    return mqttc__is_v5(version) ? mqttc__rc_ok_for(MQTTC_SUBACK, (int)c) : c <= 2 || c == 0x80;
}

/* SUBACK, and in MQTT 5 UNSUBACK too (a reason code per filter [MQTT-3.11.3]): the id,
   the properties, the codes. */
static int mqttc__encode_codes(unsigned char *buf, size_t cap, int version, int type, unsigned short id,
                               const mqttc_props *ps, const unsigned char *codes, size_t count, size_t *n) {
    size_t body, wire;
    int rc;
    *n = 0;
    if (!mqttc__version_ok(version) || id == 0 || count == 0 || !codes) return MQTTC_ERR_ARG;
    if (mqttc__props_for(ps, version, type, &body, &wire)) return MQTTC_ERR_ARG;
    for (size_t i = 0; i < count; i++)
        if (type == MQTTC_SUBACK ? !mqttc__suback_code_ok(codes[i], version) : !mqttc__rc_ok_for(type, codes[i]))
            return MQTTC_ERR_ARG;
    unsigned char *p = mqttc__begin(buf, cap, (unsigned)type << 4, 2 + wire + count, n, &rc);
    if (!p) return rc;
    p = mqttc__put16(p, id);
    if (wire) p = mqttc__put_props(p, ps, body);
    memcpy(p, codes, count);
    return MQTTC_OK;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: the id; in MQTT 5 then the reason and
   properties, each left out when empty [MQTT-3.4.2.1] (an UNSUBACK's codes: ai->codes). */
MQTTC_DEF int mqttc_encode_ack(unsigned char *buf, size_t cap, int version, const mqttc_ack_info *ai, size_t *n) {
    size_t body, wire;
    *n = 0;
    if (!ai || !mqttc__version_ok(version) || ai->packet_id == 0) return MQTTC_ERR_ARG;
    int rc, type = ai->type;
    if (type != MQTTC_PUBACK && type != MQTTC_PUBREC && type != MQTTC_PUBREL && type != MQTTC_PUBCOMP &&
        type != MQTTC_UNSUBACK)
        return MQTTC_ERR_ARG;
    if (type == MQTTC_UNSUBACK && mqttc__is_v5(version)) /* a reason code per filter [MQTT-3.11.3] */
        return mqttc__encode_codes(buf, cap, version, type, ai->packet_id, &ai->props, ai->codes, ai->count, n);
    if (mqttc__props_for(&ai->props, version, type, &body, &wire)) return MQTTC_ERR_ARG;
    if (mqttc__is_v5(version) ? !mqttc__rc_ok_for(type, ai->reason_code) : ai->reason_code != 0) return MQTTC_ERR_ARG;
    if (!body) wire = 0; /* no properties: the property length is left out too */
    size_t extra = wire ? 1 + wire : ai->reason_code ? 1 : 0;
    unsigned char *p = mqttc__begin(buf, cap, ((unsigned)type << 4) | mqttc__required_flags(type), 2 + extra, n, &rc);
    if (!p) return rc;
    p = mqttc__put16(p, ai->packet_id);
    if (extra) mqttc__put_reason(p, ai->reason_code, &ai->props, body, wire);
    return MQTTC_OK;
}

MQTTC_DEF int mqttc_encode_suback(unsigned char *buf, size_t cap, int version, const mqttc_suback_info *sa, size_t *n) {
    *n = 0;
    if (!sa) return MQTTC_ERR_ARG;
    return mqttc__encode_codes(buf, cap, version, MQTTC_SUBACK, sa->packet_id, &sa->props, sa->codes, sa->count, n);
}

/* PINGREQ, PINGRESP and (in 3.1.1) DISCONNECT: a type and nothing more. */
static int mqttc__encode_empty(unsigned char *buf, size_t cap, int type, size_t *n) {
    int rc;
    return mqttc__begin(buf, cap, (unsigned)type << 4, 0, n, &rc) ? MQTTC_OK : rc;
}

/* DISCONNECT and AUTH in MQTT 5: a reason 0 without properties is the bare packet
   [MQTT-3.14.2.1], [MQTT-3.15.2.1]; a DISCONNECT's reason alone takes one byte. */
static int mqttc__encode_reason_only(unsigned char *buf, size_t cap, int version, int type, int code,
                                     const mqttc_props *ps, size_t *n) {
    size_t body, wire;
    int rc;
    *n = 0;
    if (!mqttc__version_ok(version) || mqttc__props_for(ps, version, type, &body, &wire)) return MQTTC_ERR_ARG;
    if (!mqttc__is_v5(version)) return code || type != MQTTC_DISCONNECT ? MQTTC_ERR_ARG : mqttc__encode_empty(buf, cap, type, n);
    if (!mqttc__rc_ok_for(type, code)) return MQTTC_ERR_ARG;
    if (!body && type == MQTTC_DISCONNECT) wire = 0; /* a DISCONNECT may end after its reason; an
                                                        AUTH has none or both [MQTT-3.15.2.1] */
    if (code == 0 && body == 0) return mqttc__encode_empty(buf, cap, type, n);
    unsigned char *p = mqttc__begin(buf, cap, (unsigned)type << 4, 1 + wire, n, &rc);
    if (!p) return rc;
    mqttc__put_reason(p, code, ps, body, wire);
    return MQTTC_OK;
}

/* DISCONNECT: two bytes in 3.1.1 [MQTT-3.14]; a reason code needs MQTT 5. */
MQTTC_DEF int mqttc_encode_disconnect(unsigned char *buf, size_t cap, int version, const mqttc_disconnect_info *di,
                                      size_t *n) {
    static const mqttc_disconnect_info normal = {0, {NULL, 0, NULL, 0}};
    if (!di) di = &normal;
    return mqttc__encode_reason_only(buf, cap, version, MQTTC_DISCONNECT, di->reason_code, &di->props, n);
}

MQTTC_DEF int mqttc_encode_auth(unsigned char *buf, size_t cap, int version, const mqttc_auth_info *ai, size_t *n) {
    *n = 0;
    if (!ai || !mqttc__is_v5(version)) return MQTTC_ERR_ARG;
    return mqttc__encode_reason_only(buf, cap, version, MQTTC_AUTH, ai->reason_code, &ai->props, n);
}

MQTTC_DEF int mqttc_encode_ping(unsigned char *buf, size_t cap, int type, size_t *n) {
    *n = 0;
    if (type != MQTTC_PINGREQ && type != MQTTC_PINGRESP) return MQTTC_ERR_ARG;
    return mqttc__encode_empty(buf, cap, type, n);
}

/* ---- decoding ---- */

static int mqttc__read_id(mqttc__reader *r, unsigned short *id) {
    unsigned v;
    if (mqttc__read16(r, &v) != MQTTC_OK || v == 0) return MQTTC_ERR_MALFORMED; /* [MQTT-2.3.1-1] */
    *id = (unsigned short)v;
    return MQTTC_OK;
}

/* An MQTT 5 property set: its length, then the properties, checked for packet `type`. */
static int mqttc__read_props(mqttc__reader *r, int type, mqttc_props *ps) {
    uint32_t len;
    size_t body;
    if (mqttc__read_varint(r, &len) || (size_t)(r->end - r->p) < len) return MQTTC_ERR_MALFORMED;
    ps->ptr = r->p;
    ps->len = len;
    r->p += len;
    return len ? mqttc__props_verify(ps, type, &body) : MQTTC_OK;
}

/* A reason code (valid for the type) and properties that may be left out at the end of
   the packet: acks, DISCONNECT, AUTH [MQTT-3.4.2.1]. */
static int mqttc__read_reason(mqttc__reader *r, int type, int *code, mqttc_props *ps) {
    if (r->p == r->end) return MQTTC_OK; /* reason 0, no properties */
    *code = *r->p++;
    if (!mqttc__rc_ok_for(type, *code)) return MQTTC_ERR_MALFORMED;
    if (r->p == r->end) return MQTTC_OK;
    int rc = mqttc__read_props(r, type, ps);
    return rc != MQTTC_OK ? rc : r->p == r->end ? MQTTC_OK : MQTTC_ERR_MALFORMED;
}

/* The fixed header: type, flags, and a minimal varint of at most four bytes [MQTT-2.2.3]. */
static int mqttc__decode_fixed(const unsigned char *buf, size_t len, size_t *remaining, size_t *hlen) {
    size_t value = 0;
    for (size_t i = 1; i <= 4; i++) {
        if (i >= len) return MQTTC_MORE;
        value |= (size_t)(buf[i] & 127u) << (7 * (i - 1));
        if (!(buf[i] & 128u)) {
            /* a longer encoding than needed is malformed ([MQTT-1.5.5-1] in 5.0; good practice) */
            if (i > 1 && buf[i] == 0) return MQTTC_ERR_MALFORMED;
            *remaining = value;
            *hlen = i + 1;
            return MQTTC_OK;
        }
    }
    return MQTTC_ERR_MALFORMED; /* a fifth byte */
}

static int mqttc__decode_connect_flags(mqttc__reader *r, mqttc_connect_info *ci, unsigned *flags) {
    unsigned ka;
    if (mqttc__read_str(r, &ci->protocol_name, 1) || r->end - r->p < 2) return MQTTC_ERR_MALFORMED;
    ci->protocol_level = *r->p++;
    *flags = *r->p++;
    if (mqttc__read16(r, &ka)) return MQTTC_ERR_MALFORMED;
    ci->keepalive_s = ka;
    if (*flags & 1u) return MQTTC_ERR_MALFORMED; /* reserved [MQTT-3.1.2-3] */
    ci->clean_session = (*flags >> 1) & 1;
    ci->will_qos = (int)((*flags >> 3) & 3u);
    ci->will_retain = (*flags >> 5) & 1;
    if (ci->will_qos == 3) return MQTTC_ERR_MALFORMED;                                 /* [MQTT-3.1.2-14] */
    if (!(*flags & 4u) && (ci->will_qos || ci->will_retain)) return MQTTC_ERR_MALFORMED; /* [MQTT-3.1.2-13/15] */
    if ((*flags & 0x40u) && !(*flags & 0x80u) && !mqttc__is_v5(ci->protocol_level))
        return MQTTC_ERR_MALFORMED; /* [MQTT-3.1.2-22]; MQTT 5 allows a password alone */
    return MQTTC_OK;
}

/* CONNECT is read by its own protocol level: the broker learns the version from it. */
static int mqttc__decode_connect(mqttc__reader *r, mqttc_connect_info *ci) {
    unsigned flags;
    if (mqttc__decode_connect_flags(r, ci, &flags)) return MQTTC_ERR_MALFORMED;
    int v5 = mqttc__is_v5(ci->protocol_level), rc;
    if (v5 && (rc = mqttc__read_props(r, MQTTC_CONNECT, &ci->props)) != MQTTC_OK) return rc;
    if (mqttc__read_str(r, &ci->client_id, 1)) return MQTTC_ERR_MALFORMED;
    if ((flags & 4u) && v5 && (rc = mqttc__read_props(r, 0, &ci->will_props)) != MQTTC_OK) return rc;
    if ((flags & 4u) && (mqttc__read_str(r, &ci->will_topic, 1) || mqttc__read_str(r, &ci->will_payload, 0) ||
                         mqttc_topic_check(ci->will_topic.ptr, ci->will_topic.len)))
        return MQTTC_ERR_MALFORMED;
    if ((flags & 0x80u) && mqttc__read_str(r, &ci->username, 1)) return MQTTC_ERR_MALFORMED;
    if ((flags & 0x40u) && mqttc__read_str(r, &ci->password, 0)) return MQTTC_ERR_MALFORMED;
    return r->p == r->end ? MQTTC_OK : MQTTC_ERR_MALFORMED;
}

/* Reserved bits of the acknowledge flags are 0 [MQTT-3.2.2-1]; in 3.1.1 codes above 5 are
   reserved [MQTT-3.2.2], in MQTT 5 only the CONNACK reason codes are valid. */
static int mqttc__decode_connack(mqttc__reader *r, int version, mqttc_connack_info *ca) {
    if (r->end - r->p < 2 || (r->p[0] & 0xFEu)) return MQTTC_ERR_MALFORMED;
    ca->session_present = r->p[0] & 1;
    ca->reason_code = r->p[1];
    r->p += 2;
    if (ca->session_present && ca->reason_code) return MQTTC_ERR_MALFORMED; /* [MQTT-3.2.2-4] (5.0: -6) */
    if (!mqttc__is_v5(version)) return r->p == r->end && ca->reason_code <= 5 ? MQTTC_OK : MQTTC_ERR_MALFORMED;
    if (r->p == r->end && ca->reason_code == 1) { /* a 3.1.1 broker's "unacceptable protocol level" */
        ca->reason_code = MQTTC_RC_UNSUPPORTED_PROTOCOL_VERSION;
        return MQTTC_OK;
    }
    if (!mqttc__rc_ok_for(MQTTC_CONNACK, ca->reason_code)) return MQTTC_ERR_MALFORMED;
    if (r->p == r->end) return MQTTC_OK; /* no property length: tolerated as none */
    int rc = mqttc__read_props(r, MQTTC_CONNACK, &ca->props);
    return rc != MQTTC_OK ? rc : r->p == r->end ? MQTTC_OK : MQTTC_ERR_MALFORMED;
}

static int mqttc__decode_publish(mqttc__reader *r, unsigned flags, int version, mqttc_publish_info *pi) {
    mqttc_str topic;
    pi->dup = (flags >> 3) & 1;
    pi->qos = (int)((flags >> 1) & 3u);
    pi->retain = flags & 1;
    if (pi->qos == 3) return MQTTC_ERR_MALFORMED;              /* [MQTT-3.3.1-4] */
    if (pi->qos == 0 && pi->dup) return MQTTC_ERR_MALFORMED;    /* [MQTT-3.3.1-2] */
    if (mqttc__read_str(r, &topic, 1)) return MQTTC_ERR_MALFORMED;
    pi->topic = topic.ptr;
    pi->topic_len = topic.len;
    if (pi->qos && mqttc__read_id(r, &pi->packet_id)) return MQTTC_ERR_MALFORMED;
    if (mqttc__is_v5(version)) {
        int rc = r->p < r->end && *r->p == 0 ? (r->p++, MQTTC_OK) /* none: the common case */
                                              : mqttc__read_props(r, MQTTC_PUBLISH, &pi->props);
        if (rc != MQTTC_OK) return rc;
        /* an empty topic needs a Topic Alias [MQTT-3.3.2-7]; the client resolves it */
        if (topic.len == 0 && !mqttc__props_find(&pi->props, MQTTC_PROP_TOPIC_ALIAS, NULL))
            return MQTTC_ERR_PROTOCOL;
    }
    if ((topic.len || !mqttc__is_v5(version)) && mqttc_topic_check(topic.ptr, topic.len))
        return MQTTC_ERR_MALFORMED; /* [MQTT-3.3.2-2] */
    pi->payload = r->p;
    pi->payload_len = (size_t)(r->end - r->p);
    return MQTTC_OK;
}

/* A reason code per filter after the id and properties: SUBACK, and in MQTT 5 UNSUBACK. */
static int mqttc__read_codes(mqttc__reader *r, int version, int type, unsigned short *id, mqttc_props *ps,
                             const unsigned char **codes, size_t *count) {
    int rc;
    if (mqttc__read_id(r, id)) return MQTTC_ERR_MALFORMED;
    if (mqttc__is_v5(version) && (rc = mqttc__read_props(r, type, ps)) != MQTTC_OK) return rc;
    if (r->p == r->end) return MQTTC_ERR_MALFORMED;
    *codes = r->p;
    *count = (size_t)(r->end - r->p);
    for (size_t i = 0; i < *count; i++)
        if (type == MQTTC_SUBACK ? !mqttc__suback_code_ok((*codes)[i], version) : !mqttc__rc_ok_for(type, (*codes)[i]))
            return MQTTC_ERR_MALFORMED; /* [MQTT-3.9.3-2] */
    return MQTTC_OK;
}

static int mqttc__decode_ack(mqttc__reader *r, int type, int version, mqttc_ack_info *ai) {
    ai->type = type;
    if (type == MQTTC_UNSUBACK && mqttc__is_v5(version)) {
        int rc = mqttc__read_codes(r, version, type, &ai->packet_id, &ai->props, &ai->codes, &ai->count);
        if (rc == MQTTC_OK) ai->reason_code = ai->codes[0];
        return rc;
    }
    if (mqttc__read_id(r, &ai->packet_id)) return MQTTC_ERR_MALFORMED;
    if (mqttc__is_v5(version)) return mqttc__read_reason(r, type, &ai->reason_code, &ai->props);
    return r->p == r->end ? MQTTC_OK : MQTTC_ERR_MALFORMED;
}

/* SUBSCRIBE and UNSUBSCRIBE: an id, (properties,) then one or more filters, with an options
   byte each for SUBSCRIBE. All are checked here so mqttc_next_filter cannot fail. */
static int mqttc__decode_filters(mqttc__reader *r, int type, int version, mqttc_subscribe_info *si) {
    int rc;
    si->type = type;
    if (mqttc__read_id(r, &si->packet_id)) return MQTTC_ERR_MALFORMED;
    if (mqttc__is_v5(version) && (rc = mqttc__read_props(r, type, &si->props)) != MQTTC_OK) return rc;
    si->list = r->p;
    si->list_len = (size_t)(r->end - r->p);
    while (r->p < r->end) {
        mqttc_str f;
        if (mqttc__read_str(r, &f, 1) || mqttc_filter_check(f.ptr, f.len)) return MQTTC_ERR_MALFORMED;
        if (mqttc__is_v5(version) && !mqttc__shared_ok(f.ptr, f.len)) return MQTTC_ERR_PROTOCOL;
        if (type == MQTTC_SUBSCRIBE) {
            if (r->p == r->end) return MQTTC_ERR_MALFORMED;
            unsigned o = *r->p++;
            if ((o & 0xC0u) || (!mqttc__is_v5(version) && o > 2)) return MQTTC_ERR_MALFORMED; /* [MQTT-3.8.3-5] */
            if (!mqttc__sub_options_ok(o, version, f.ptr, f.len))
                return MQTTC_ERR_PROTOCOL; /* QoS 3, Retain Handling 3, No Local on a shared filter */
        }
        si->count++;
    }
    if (si->count) return MQTTC_OK;
    return mqttc__is_v5(version) ? MQTTC_ERR_PROTOCOL : MQTTC_ERR_MALFORMED; /* [MQTT-3.8.3-2], [MQTT-3.10.3-2] */
}

/* The packets a broker sends: the client's reading needs only these. */
static int mqttc__decode_from_broker(mqttc__reader *r, int version, int type, mqttc_packet *p) {
    switch (type) {
    case MQTTC_CONNACK: return mqttc__decode_connack(r, version, &p->connack);
    case MQTTC_PUBLISH: return mqttc__decode_publish(r, p->flags, version, &p->publish);
    case MQTTC_PUBACK: case MQTTC_PUBREC: case MQTTC_PUBREL: case MQTTC_PUBCOMP: case MQTTC_UNSUBACK:
        return mqttc__decode_ack(r, type, version, &p->ack);
    case MQTTC_SUBACK:
        return mqttc__read_codes(r, version, MQTTC_SUBACK, &p->suback.packet_id, &p->suback.props, &p->suback.codes,
                                 &p->suback.count);
    case MQTTC_DISCONNECT:
        if (mqttc__is_v5(version)) return mqttc__read_reason(r, type, &p->disconnect.reason_code, &p->disconnect.props);
        return r->p == r->end ? MQTTC_OK : MQTTC_ERR_MALFORMED;
    case MQTTC_AUTH: /* reserved in 3.1.1 [MQTT-2.2.1]; no body, or a reason and properties */
        if (!mqttc__is_v5(version) || r->end - r->p == 1) return MQTTC_ERR_MALFORMED;
        return mqttc__read_reason(r, type, &p->auth.reason_code, &p->auth.props);
    case MQTTC_PINGRESP: return r->p == r->end ? MQTTC_OK : MQTTC_ERR_MALFORMED;
    default: return MQTTC_ERR_PROTOCOL; /* only a client sends it [MQTT-4.8.0-1] */
    }
}

/* Every packet: those only a client sends too (a broker's reading). */
static int mqttc__decode_any(mqttc__reader *r, int version, int type, mqttc_packet *p) {
    switch (type) {
    case MQTTC_CONNECT: return mqttc__decode_connect(r, &p->connect);
    case MQTTC_SUBSCRIBE: case MQTTC_UNSUBSCRIBE: return mqttc__decode_filters(r, type, version, &p->subscribe);
    case MQTTC_PINGREQ: return r->p == r->end ? MQTTC_OK : MQTTC_ERR_MALFORMED;
    default: return mqttc__decode_from_broker(r, version, type, p);
    }
}

/* The fixed header [MQTT-2.2]: the type (0 reserved, AUTH only in MQTT 5 [MQTT-2.2.1]), its
   flags, the size. MQTTC_OK with *r over the variable header and payload of a complete
   packet; MQTTC_MORE; or why not. */
static int mqttc__decode_head(const unsigned char *buf, size_t len, size_t max_size, int version, mqttc_packet *p,
                              size_t *used, mqttc__reader *r) {
    size_t remaining = 0, hlen = 0;
    *used = 0;
    memset(p, 0, sizeof *p);
    if (!mqttc__version_ok(version)) return MQTTC_ERR_ARG; /* the caller's: a version not spoken */
    if (len == 0) return MQTTC_MORE;
    p->type = buf[0] >> 4;
    p->flags = buf[0] & 15u;
    if (p->type == 0 || (p->type == MQTTC_AUTH && !mqttc__is_v5(version))) return MQTTC_ERR_MALFORMED;
    if (p->type != MQTTC_PUBLISH && p->flags != mqttc__required_flags(p->type))
        return MQTTC_ERR_MALFORMED; /* [MQTT-2.2.2-2] */
    int rc = mqttc__decode_fixed(buf, len, &remaining, &hlen);
    if (rc != MQTTC_OK) return rc;
    if (max_size && hlen + remaining > max_size) return MQTTC_ERR_OVERFLOW;
    *used = hlen + remaining;
    if (len < *used) return MQTTC_MORE;
    r->p = buf + hlen;
    r->end = buf + hlen + remaining;
    return MQTTC_OK;
}

/* The client's reading: what a broker sends; a packet only a client sends is
   MQTTC_ERR_PROTOCOL. So a client program carries no code to decode CONNECT or SUBSCRIBE. */
static int mqttc__decode_broker_packet(const unsigned char *buf, size_t len, size_t max_size, int version,
                                       mqttc_packet *p, size_t *used) {
    mqttc__reader r;
    int rc = mqttc__decode_head(buf, len, max_size, version, p, used, &r);
    if (rc == MQTTC_OK && (rc = mqttc__decode_from_broker(&r, version, p->type, p)) != MQTTC_OK) *used = 0;
    return rc;
}

MQTTC_DEF int mqttc_decode(const unsigned char *buf, size_t len, size_t max_size, int version, mqttc_packet *p,
                           size_t *used) {
    mqttc__reader r;
    int rc = mqttc__decode_head(buf, len, max_size, version, p, used, &r);
    if (rc == MQTTC_OK && (rc = mqttc__decode_any(&r, version, p->type, p)) != MQTTC_OK) *used = 0;
    return rc;
}

MQTTC_DEF unsigned short mqttc_packet_id(const mqttc_packet *p) {
    switch (p->type) {
    case MQTTC_PUBLISH: return p->publish.packet_id;
    case MQTTC_PUBACK: case MQTTC_PUBREC: case MQTTC_PUBREL: case MQTTC_PUBCOMP: case MQTTC_UNSUBACK:
        return p->ack.packet_id;
    case MQTTC_SUBSCRIBE: case MQTTC_UNSUBSCRIBE: return p->subscribe.packet_id;
    case MQTTC_SUBACK: return p->suback.packet_id;
    default: return 0;
    }
}

MQTTC_DEF int mqttc_next_filter(const mqttc_subscribe_info *si, size_t *pos, mqttc_str *filter, int *options) {
    if (*pos >= si->list_len) return 0;
    mqttc__reader r = {si->list + *pos, si->list + si->list_len};
    if (mqttc__read_str(&r, filter, 0) != MQTTC_OK) return 0;
    if (si->type == MQTTC_SUBSCRIBE) {
        if (r.p == r.end) return 0;
        if (options) *options = *r.p;
        r.p++;
    }
    *pos = (size_t)(r.p - si->list);
    return 1;
}

/* >>session ------------------------------------------------------------------------------- */
/* Packets awaiting an answer and per-filter handlers live as records in two pools (byte
   buffers of variable-length records, compacted on removal; the in-flight pool lazily, with
   an index: below): no per-message allocation once a pool has grown to its working size.
   Records are named by what they wait for. */
enum {
    MQTTC__AWAIT_PUBACK = 1, /* we sent PUBLISH QoS 1; the record holds the packet for resend */
    MQTTC__AWAIT_PUBREC,     /* we sent PUBLISH QoS 2; likewise */
    MQTTC__AWAIT_PUBCOMP,    /* we sent PUBREL [MQTT-4.3.3-1]: the PUBLISH is never resent */
    MQTTC__AWAIT_SUBACK,     /* we sent SUBSCRIBE */
    MQTTC__AWAIT_UNSUBACK,   /* we sent UNSUBSCRIBE; the record holds the filter */
    MQTTC__AWAIT_PUBREL,     /* the broker sent PUBLISH QoS 2 and we answered PUBREC */
    MQTTC__HANDLER,          /* in the subs pool: a subscription (filter, options byte in
                                packet_id) and its message handler (NULL: on_message) */
    MQTTC__DISCONNECT_OUT,   /* MQTT 5: our DISCONNECT with its reason, sent after the drain */
    /* MQTT 5, in the peer pool (what the broker told us) and the aliases_out pool */
    MQTTC__ALIAS_IN,         /* the broker's topic alias (packet_id) for a topic (data, NUL) */
    MQTTC__CONNACK_PROPS,    /* the last CONNACK's properties, raw */
    MQTTC__DISCONNECT_PROPS, /* the broker's DISCONNECT's properties, raw */
    MQTTC__ASSIGNED_ID,      /* the Assigned Client Identifier (data, NUL), kept for reconnects */
    MQTTC__SCRATCH,          /* CONNECT's properties while CONNECT is encoded */
    MQTTC__ALIAS_OUT,        /* our topic alias (packet_id) for a topic (data); seq: last use */
    MQTTC__TARGET,           /* in the subs pool: the broker connected first, to dial again:
                                its host or URL (data, NUL) and port (packet_id; 0 for a URL) */
    MQTTC__LOGIN             /* in the subs pool: a URL's user name (data, NUL; its length in
                                packet_id) and password after it (its length + 1 in seq; 0:
                                none), sent in CONNECT unless options.username is set */
};

typedef union mqttc__cb {
    mqttc_message_fn message;
    mqttc_suback_fn suback;
    mqttc_unsuback_fn unsuback;
} mqttc__cb;

typedef struct mqttc__rec {
    size_t size;     /* the whole record, header included, a multiple of MQTTC__ALIGN */
    size_t data_len; /* bytes after the header: a stored packet, a handler's filter, or the
                        filters of a request, each after a 2-byte length as on the wire */
    mqttc__cb cb;
    void *user;
    uint32_t seq;    /* handlers: the order they were set (mqttc__deliver); aliases: last use */
    uint32_t sub_id; /* handlers, MQTT 5: the subscription identifier (0: none) */
    unsigned short packet_id;
    unsigned char kind;
    unsigned char flags;   /* outgoing PUBLISH: MQTTC__HELD, MQTTC__WRITTEN */
} mqttc__rec;

/* An outgoing PUBLISH record's flags. HELD: not yet written on this connection (queued while
   offline or past the window); WRITTEN: written on some connection (a resend sets DUP). */
enum { MQTTC__HELD = 1, MQTTC__WRITTEN = 2 };

#define MQTTC__ALIGN 16u
#define MQTTC__BUF_MAX 0x7fffffffu /* no buffer grows past 2 GiB (a packet is at most 256 MiB) */
#define MQTTC__URL_MAX 2048u       /* a broker URL's bytes, its NUL included */
static size_t mqttc__round(size_t n) { return (n + MQTTC__ALIGN - 1) & ~(size_t)(MQTTC__ALIGN - 1); }

/* Makes room for `extra` more bytes after the data: compacts, then grows (doubling, up to
   b->max) unless the memory is the caller's. */
static int mqttc__buf_reserve(mqttc__buf *b, size_t extra) {
    if (b->cap - b->start - b->len >= extra) return MQTTC_OK;
    if (b->start) {
        memmove(b->p, b->p + b->start, b->len);
        b->start = 0;
        if (b->cap - b->len >= extra) return MQTTC_OK;
    }
    if (b->is_fixed || b->len + extra > b->max) return MQTTC_ERR_NOSPACE;
    size_t cap = b->cap ? b->cap : 16; /* small first: an idle connection holds little */
    while (cap < b->len + extra) cap = cap > b->max / 2 ? b->max : cap * 2;
    unsigned char *p = (unsigned char *)MQTTC_REALLOC(b->p, cap);
    if (!p) return MQTTC_ERR_NOMEM;
    b->p = p;
    b->cap = (uint32_t)cap; /* cap <= b->max <= MQTTC__BUF_MAX */
    return MQTTC_OK;
}

static void mqttc__buf_consume(mqttc__buf *b, size_t n) {
    b->start += (uint32_t)n; /* n <= b->len */
    b->len -= (uint32_t)n;
    if (b->len == 0) b->start = 0;
}

static mqttc__rec *mqttc__rec_at(mqttc__buf *pool, size_t off) {
    return off < pool->len ? (mqttc__rec *)(void *)(pool->p + off) : NULL;
}

static unsigned char *mqttc__rec_data(mqttc__rec *r) { return (unsigned char *)(r + 1); }

/* Appends a record with data_len bytes of room; NULL when the pool is full. Moves the pool:
   pointers to records are not kept across this call. */
static mqttc__rec *mqttc__rec_add(mqttc__buf *pool, int kind, unsigned short id, size_t data_len) {
    size_t size = mqttc__round(sizeof(mqttc__rec) + data_len);
    if (mqttc__buf_reserve(pool, size) != MQTTC_OK) return NULL;
    mqttc__rec *r = (mqttc__rec *)(void *)(pool->p + pool->len);
    memset(r, 0, sizeof *r);
    r->size = size;
    r->data_len = data_len;
    r->kind = (unsigned char)kind;
    r->packet_id = id;
    pool->len += (uint32_t)size; /* reserved above: fits */
    return r;
}

static void mqttc__rec_remove(mqttc__buf *pool, mqttc__rec *r) {
    size_t off = (size_t)((unsigned char *)r - pool->p), size = r->size;
    memmove(pool->p + off, pool->p + off + size, pool->len - off - size);
    pool->len -= (uint32_t)size;
}

#ifndef MQTTC_NO_SOCKETS
/* The first record of `kind`, or NULL. */
static mqttc__rec *mqttc__rec_first(mqttc__buf *pool, int kind) {
    mqttc__rec *r;
    for (size_t off = 0; (r = mqttc__rec_at(pool, off)) != NULL; off += r->size)
        if (r->kind == kind) return r;
    return NULL;
}
#endif

/* The record of `kind` with this id, or NULL (the in-flight pool has mqttc__fl_find). */
static mqttc__rec *mqttc__rec_find(mqttc__buf *pool, int kind, unsigned short id) {
    mqttc__rec *r;
    for (size_t off = 0; (r = mqttc__rec_at(pool, off)) != NULL; off += r->size)
        if (r->packet_id == id && r->kind == kind) return r;
    return NULL;
}

/* A record of `kind` holding exactly these bytes (an alias's topic), or NULL. */
static mqttc__rec *mqttc__rec_find_data(mqttc__buf *pool, int kind, const void *data, size_t len) {
    mqttc__rec *r;
    for (size_t off = 0; (r = mqttc__rec_at(pool, off)) != NULL; off += r->size)
        if (r->kind == kind && r->data_len == len && memcmp(mqttc__rec_data(r), data, len) == 0) return r;
    return NULL;
}

/* Replaces the record of `kind` (and id) by one holding data[0..len), plus a NUL when
   is_text; NULL when the pool is full. */
static mqttc__rec *mqttc__rec_put(mqttc__buf *pool, int kind, unsigned short id, const void *data, size_t len,
                                  int is_text) {
    mqttc__rec *r = mqttc__rec_find(pool, kind, id);
    if (r) mqttc__rec_remove(pool, r);
    r = mqttc__rec_add(pool, kind, id, len + (is_text ? 1u : 0u));
    if (!r) return NULL;
    if (len) memcpy(mqttc__rec_data(r), data, len);
    if (is_text) mqttc__rec_data(r)[len] = 0;
    return r;
}

/* Iterates the length-prefixed filters of a SUBSCRIBE or UNSUBSCRIBE record: 1 with *f set,
   0 at the end. Start with *pos = 0. */
static int mqttc__rec_next_filter(mqttc__rec *r, size_t *pos, mqttc_str *f) {
    const unsigned char *d = mqttc__rec_data(r);
    if (*pos + 2 > r->data_len) return 0;
    f->len = mqttc__get16(d + *pos);
    f->ptr = (const char *)d + *pos + 2;
    *pos += 2 + f->len;
    return 1;
}

static mqttc__rec *mqttc__handler_find(mqttc__buf *subs, const char *filter, size_t len) {
    return mqttc__rec_find_data(subs, MQTTC__HANDLER, filter, len);
}

/* Drops records of the given kinds (a bit mask of 1 << kind). */
static void mqttc__rec_drop(mqttc__buf *pool, unsigned kinds) {
    mqttc__rec *r;
    size_t off = 0;
    while ((r = mqttc__rec_at(pool, off)) != NULL) {
        if (kinds & (1u << r->kind)) mqttc__rec_remove(pool, r);
        else off += r->size;
    }
}

/* ---- the in-flight pool: O(1) by packet id, O(1) amortised removal ----
   A window may hold 65,535 outgoing flows and as many incoming ones, so nothing per message
   may scan or shift the pool. Removing a record marks it dead (kind 0) where it lies: walks
   skip it, and the pool is compacted in one pass once dead bytes pass half of it, which
   costs each live byte O(1) moves per removal on average. Records keep their order, the
   order flows began, which resends follow [MQTT-4.6.0-1]. An open-addressing index maps
   (packet id, direction) to a record's offset; it is rebuilt by compaction. Outgoing ids are
   unique among outgoing records and incoming ids among PUBREL ones [MQTT-2.3.1-2], so the
   key names one record. Walks that call out (on_dropped may publish) hold fl.walking, and
   no compaction moves records under them. Caller memory (options.mem) gets no index: its
   pools are small and a scan serves. */
#define MQTTC__INDEX_FROM 16u  /* records before the index is built */
#define MQTTC__DEAD 0          /* a removed record's kind */

#ifdef MQTTC_NO_INDEX /* the small build: a scan per lookup, O(window); fine for a window of 20 */
#define MQTTC__HAS_INDEX 0
#define mqttc__fl_index_put(c, off) ((void)0)     /* (never reached: no index is built) */
#define mqttc__fl_index_build(c, bits) 0
#define mqttc__fl_index_erase(c, r) ((void)0)
#else
#define MQTTC__HAS_INDEX 1
static uint32_t mqttc__fl_key(int kind, unsigned short id) {
    return ((uint32_t)id << 1) | (kind == MQTTC__AWAIT_PUBREL);
}

static uint32_t mqttc__fl_home(const mqttc__index *ix, uint32_t key) {
    return (uint32_t)(key * 2654435761u) >> (32u - ix->bits); /* Fibonacci hashing */
}

static mqttc__rec *mqttc__fl_rec(mqttc_client *c, uint32_t slot) {
    return (mqttc__rec *)(void *)(c->inflight.p + (size_t)(slot - 1u) * MQTTC__ALIGN);
}

static void mqttc__fl_index_put(mqttc_client *c, size_t off) {
    mqttc__index *ix = &c->fl;
    mqttc__rec *r = mqttc__rec_at(&c->inflight, off);
    uint32_t mask = (1u << ix->bits) - 1u, i = mqttc__fl_home(ix, mqttc__fl_key(r->kind, r->packet_id));
    while (ix->slot[i]) i = (i + 1u) & mask;
    ix->slot[i] = (uint32_t)(off / MQTTC__ALIGN) + 1u;
}

/* (Re)builds the index with 1 << bits slots from the live records; 0 when memory fails,
   and the pool is then scanned as before. */
static int mqttc__fl_index_build(mqttc_client *c, uint32_t bits) {
    mqttc__index *ix = &c->fl;
    mqttc__rec *r;
    if (bits != ix->bits || !ix->slot) {
        uint32_t *slot = (uint32_t *)MQTTC_REALLOC(ix->slot, ((size_t)1 << bits) * sizeof *slot);
        if (!slot) return 0;
        ix->slot = slot;
        ix->bits = bits;
    }
    memset(ix->slot, 0, ((size_t)1 << bits) * sizeof *ix->slot);
    for (size_t off = 0; (r = mqttc__rec_at(&c->inflight, off)) != NULL; off += r->size)
        if (r->kind != MQTTC__DEAD && r->packet_id) mqttc__fl_index_put(c, off);
    return 1;
}

/* Backward-shift deletion: the slots after it that probed past it move up. */
static void mqttc__fl_index_erase(mqttc_client *c, const mqttc__rec *r) {
    mqttc__index *ix = &c->fl;
    uint32_t mask = (1u << ix->bits) - 1u, key = mqttc__fl_key(r->kind, r->packet_id);
    uint32_t i = mqttc__fl_home(ix, key), me = (uint32_t)(((const unsigned char *)r - c->inflight.p) / MQTTC__ALIGN) + 1u;
    while (ix->slot[i] != me) i = (i + 1u) & mask; /* (it is there) */
    for (uint32_t j = (i + 1u) & mask; ix->slot[j]; j = (j + 1u) & mask) {
        const mqttc__rec *o = mqttc__fl_rec(c, ix->slot[j]);
        uint32_t home = mqttc__fl_home(ix, mqttc__fl_key(o->kind, o->packet_id));
        if (((j - home) & mask) >= ((j - i) & mask)) { /* home at or before the hole */
            ix->slot[i] = ix->slot[j];
            i = j;
        }
    }
    ix->slot[i] = 0;
}
#endif

/* Moves the live records down over the dead ones, in order; the index follows. Not while a
   walk holds offsets. */
static void mqttc__fl_compact(mqttc_client *c) {
    mqttc__buf *pool = &c->inflight;
    mqttc__rec *r;
    size_t to = 0;
    if (!MQTTC__HAS_INDEX || c->fl.walking || !c->fl.dead) return;
    for (size_t off = 0; (r = mqttc__rec_at(pool, off)) != NULL;) {
        size_t size = r->size;
        if (r->kind != MQTTC__DEAD) {
            if (to != off) memmove(pool->p + to, pool->p + off, size);
            to += size;
        }
        off += size;
    }
    pool->len = (uint32_t)to;
    c->fl.dead = c->fl.held_from = 0;
    if (c->fl.slot) (void)mqttc__fl_index_build(c, c->fl.bits);
}

/* A walk over the pool begins, and ends: a compaction it held back may then run. */
static void mqttc__fl_walk(mqttc_client *c) {
    if (MQTTC__HAS_INDEX) c->fl.walking++;
}

static void mqttc__fl_walked(mqttc_client *c) {
    if (MQTTC__HAS_INDEX && --c->fl.walking == 0 && c->fl.dead > c->inflight.len / 2) mqttc__fl_compact(c);
}

/* The live record of `kind` with this id, or for kind 0 the outgoing one holding the id. */
static mqttc__rec *mqttc__fl_find(mqttc_client *c, int kind, unsigned short id) {
    const mqttc__index *ix = &c->fl;
    mqttc__rec *r;
#if MQTTC__HAS_INDEX
    if (ix->slot && id) {
        uint32_t mask = (1u << ix->bits) - 1u, key = mqttc__fl_key(kind, id);
        for (uint32_t i = mqttc__fl_home(ix, key); ix->slot[i]; i = (i + 1u) & mask) {
            r = mqttc__fl_rec(c, ix->slot[i]);
            if (mqttc__fl_key(r->kind, r->packet_id) == key) return !kind || r->kind == kind ? r : NULL;
        }
        return NULL;
    }
#endif
    (void)ix;
    for (size_t off = 0; (r = mqttc__rec_at(&c->inflight, off)) != NULL; off += r->size) {
        if (r->packet_id != id || r->kind == MQTTC__DEAD) continue;
        if (kind ? r->kind == kind : r->kind != MQTTC__AWAIT_PUBREL) return r;
    }
    return NULL;
}

/* Appends a record (mqttc__rec_add), indexed; NULL when the pool is full. */
static mqttc__rec *mqttc__fl_add(mqttc_client *c, int kind, unsigned short id, size_t data_len) {
    mqttc__index *ix = &c->fl;
    mqttc__rec *r = mqttc__rec_add(&c->inflight, kind, id, data_len);
    if (!MQTTC__HAS_INDEX) return r;
    if (!r && ix->dead && !ix->walking) { /* (caller memory, or the pool's limit) */
        mqttc__fl_compact(c);
        r = mqttc__rec_add(&c->inflight, kind, id, data_len);
    }
    if (!r) return NULL;
    size_t off = (size_t)((unsigned char *)r - c->inflight.p);
    if (off < ix->held_from) ix->held_from = (uint32_t)off; /* (after a trailing record went) */
    ix->live++;
    if (!ix->slot && (ix->live < MQTTC__INDEX_FROM || c->inflight.is_fixed)) return r;
    if (!ix->slot || ix->live * 2u > (1u << ix->bits)) { /* at most half full */
        if (mqttc__fl_index_build(c, ix->slot ? ix->bits + 1u : 6u)) return r; /* (r is in it) */
        MQTTC_FREE(ix->slot); /* no memory for a larger one: scan, as caller memory does */
        ix->slot = NULL;
        ix->bits = 0;
        return r;
    }
    if (id) mqttc__fl_index_put(c, off);
    return r;
}

/* Removes a record: dead where it lies, or cut off when it is the last. The small build
   (MQTTC_NO_INDEX) moves the records after it down at once instead. Returns how far records
   after it moved: a walk holding offsets adjusts by it. */
static size_t mqttc__fl_remove(mqttc_client *c, mqttc__rec *r) {
    mqttc__buf *pool = &c->inflight;
    mqttc__index *ix = &c->fl;
    size_t off = (size_t)((unsigned char *)r - pool->p), size = r->size;
    if (!MQTTC__HAS_INDEX) { /* (and the walks for held records start at the beginning) */
        ix->held_from = 0;
        mqttc__rec_remove(pool, r);
        return size;
    }
    ix->live--;
    if (ix->slot && r->packet_id) mqttc__fl_index_erase(c, r);
    r->kind = MQTTC__DEAD;
    r->flags = 0;
    if (off + size == pool->len) {
        pool->len = (uint32_t)off;
    } else {
        ix->dead += (uint32_t)size;
        if (ix->dead > pool->len / 2) mqttc__fl_compact(c);
    }
    return 0;
}

/* Removes the records of the given kinds (a bit mask of 1 << kind). */
static void mqttc__fl_drop(mqttc_client *c, unsigned kinds) {
    mqttc__rec *r;
    if (!MQTTC__HAS_INDEX) {
        c->fl.held_from = 0;
        mqttc__rec_drop(&c->inflight, kinds);
        return;
    }
    mqttc__fl_walk(c);
    for (size_t off = 0; (r = mqttc__rec_at(&c->inflight, off)) != NULL;) {
        size_t size = r->size; /* (a removed last record leaves the pool shorter) */
        if (r->kind != MQTTC__DEAD && (kinds & (1u << r->kind)) && mqttc__fl_remove(c, r)) continue;
        off += size;
    }
    mqttc__fl_walked(c);
}

/* A currently unused id [MQTT-2.3.1-2]: after the last one, wrapping 65535 -> 1. With acks
   in order the next is free at once; the index makes each try O(1). */
static int mqttc__next_id(mqttc_client *c, unsigned short *id) {
    for (unsigned tries = 0; tries < 65535u; tries++) {
        c->last_id = (unsigned short)(c->last_id == 65535u ? 1u : c->last_id + 1u);
        if (!mqttc__fl_find(c, 0, c->last_id)) {
            *id = c->last_id;
            return MQTTC_OK;
        }
    }
    return MQTTC_ERR_BUSY;
}

/* >>transport ----------------------------------------------------------------------------- */
/* The stages of a connection, bottom up, each a mqttc_transport wrapping the one below:
   TCP to the next hop (its connect is its handshake), then TLS naming the target broker
   (>>tls). The target is where MQTT goes; the next hop is where TCP goes: the same host
   today, a proxy once a proxy stage sits between TCP and TLS. mqttc__chain (at the end of
   >>tls) puts the stages together; the client only ever calls the top one. */

/* A URL, split in place (mqttc__url_parse). */
typedef struct mqttc__url {
    int scheme;           /* its index in the caller's table */
    const char *host;     /* without an IPv6 literal's brackets */
    size_t host_len;
    int port;             /* 0: none given */
    const char *user, *pass; /* still percent-escaped; NULL: none given */
    size_t user_len, pass_len;
    const char *path;     /* from its '/' to the end, or NULL */
} mqttc__url;

/* Where a connection goes and how: the broker (the target) and the stages to speak to it. */
typedef struct mqttc__endpoint {
    const char *host;    /* the broker's name or address; NULL: not known (an adopted socket) */
    int port;
    int secure;          /* TLS */
    const char *ws_path; /* WebSocket on this request path; NULL: none */
    int has_login;       /* a URL's user name goes in CONNECT (and the TLS trust rule) */
    void (*login)(const struct mqttc_client *c, mqttc_connect_info *ci); /* puts it there; NULL:
                            none (a pointer: a program that never dials a URL carries no code
                            for it) */
} mqttc__endpoint;

/* ---- what every stage above the bottom one shares ---- */
#if defined(MQTTC_WITH_OPENSSL) || (!defined(MQTTC_NO_SOCKETS) && (!defined(MQTTC_NO_WEBSOCKET) || !defined(MQTTC_NO_PROXY)))
#define MQTTC__HAS_STAGES 1 /* a stage above the bottom one is built in */

/* The stage's inner transport failed: its error goes up with what the inner stage found. */
static int mqttc__stage_fail(mqttc_transport *t, const mqttc_transport *inner, int rc) {
    t->detail = inner->detail;
    t->detail_code = inner->detail_code;
    return rc;
}

#if !defined(MQTTC_NO_SOCKETS) && (!defined(MQTTC_NO_WEBSOCKET) || !defined(MQTTC_NO_PROXY))
/* The stage's own finding: rc, with a static text and the peer's code (a proxy's reply). */
static int mqttc__stage_says(mqttc_transport *t, int rc, const char *detail, int code) {
    t->detail = detail;
    t->detail_code = code;
    return rc;
}
#endif

/* *t becomes a stage: its calls (a template's), its state ctx, polling what is below it
   (inner, which holds what *t was). */
static void mqttc__stage_over(mqttc_transport *t, const mqttc_transport *inner, const mqttc_transport *calls, void *ctx) {
    *t = *calls;
    t->fd = inner->fd;
    t->want = inner->want;
    t->ctx = ctx;
}

/* Drives the inner stage's handshake until it is done (*ready set): MQTTC_OK, MQTTC_MORE
   (t->want: what it waits for) or its error. The stage polls the inner one's fd, which
   changes while TCP tries one address after another. */
static int mqttc__inner_handshake(mqttc_transport *t, mqttc_transport *inner, int *ready) {
    if (*ready) return MQTTC_OK;
    int rc = inner->handshake ? inner->handshake(inner) : MQTTC_OK;
    t->fd = inner->fd;
    t->want = inner->want;
    if (rc == MQTTC_OK) *ready = 1;
    else if (rc != MQTTC_MORE) mqttc__stage_fail(t, inner, rc);
    return rc;
}
#endif

#if !defined(MQTTC_NO_SOCKETS) && (!defined(MQTTC_NO_WEBSOCKET) || !defined(MQTTC_NO_PROXY))
/* A handshake's own message, written from buf[*pos] to len: MQTTC_OK once all is out,
   MQTTC_MORE when the inner stage would block (t->want), or its error. */
static int mqttc__stage_write(mqttc_transport *t, mqttc_transport *inner, const unsigned char *buf, size_t len,
                              size_t *pos) {
    while (*pos < len) {
        size_t n = 0;
        int rc = inner->send(inner, buf + *pos, len - *pos, &n);
        if (rc != MQTTC_OK) return mqttc__stage_fail(t, inner, rc);
        if (n == 0) {
            t->want = MQTTC_EV_WRITE | inner->want;
            return MQTTC_MORE;
        }
        *pos += n;
    }
    return MQTTC_OK;
}

/* A handshake's answer, read into buf from *have up to exactly need bytes (never one more:
   what follows belongs to the stage above): MQTTC_OK, MQTTC_MORE or the error (the end of
   the stream is MQTTC_ERR_CLOSED). */
static int mqttc__stage_read(mqttc_transport *t, mqttc_transport *inner, unsigned char *buf, size_t need,
                             size_t *have) {
    while (*have < need) {
        size_t n = 0;
        int rc = inner->recv(inner, buf + *have, need - *have, &n);
        if (rc != MQTTC_OK) return mqttc__stage_fail(t, inner, rc);
        if (n == 0) {
            t->want = MQTTC_EV_READ | inner->want;
            return MQTTC_MORE;
        }
        *have += n;
    }
    return MQTTC_OK;
}

/* An HTTP answer (a proxy's to CONNECT, a WebSocket server's to the upgrade), read line by
   line, one byte at a time: its end is only known when it comes. */
#define MQTTC__HTTP_MAX 16384u /* bytes of an answer, headers included */
typedef struct mqttc__http {
    char line[256];  /* the line read, its first 255 bytes, without CR LF */
    size_t line_len; /* bytes of the line so far (it may be longer than what is kept) */
    size_t total;    /* bytes of the answer so far */
    int status;      /* the status line's code; 0 before it */
} mqttc__http;

/* MQTTC_OK with h->line the next whole line (the status line first, an empty one last),
   MQTTC_MORE, MQTTC_ERR_OVERFLOW past MQTTC__HTTP_MAX, MQTTC_ERR_MALFORMED for a NUL byte
   (no HTTP text has one, and the line kept would end early), or the inner stage's error. */
static int mqttc__http_line(mqttc_transport *t, mqttc_transport *inner, mqttc__http *h) {
    for (;;) {
        unsigned char b;
        size_t have = 0;
        int rc = mqttc__stage_read(t, inner, &b, 1, &have);
        if (rc != MQTTC_OK) return rc;
        if (++h->total > MQTTC__HTTP_MAX) return MQTTC_ERR_OVERFLOW;
        if (b == 0) return MQTTC_ERR_MALFORMED;
        if (b == '\n') {
            size_t n = h->line_len < sizeof h->line ? h->line_len : sizeof h->line - 1;
            if (n && n == h->line_len && h->line[n - 1] == '\r') n--;
            h->line[n] = '\0';
            h->line_len = 0;
            return MQTTC_OK;
        }
        if (h->line_len < sizeof h->line - 1) h->line[h->line_len] = (char)b;
        h->line_len++;
    }
}

/* "HTTP/1.x NNN ...": NNN, or -1 for anything else. */
static int mqttc__http_status(const char *line) {
    if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' || line[8] != ' ') return -1;
    const char *d = line + 9;
    for (int i = 0; i < 3; i++)
        if (d[i] < (i ? '0' : '1') || d[i] > '9') return -1; /* 100..999 */
    if (d[3] && d[3] != ' ') return -1;
    return (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
}

#ifndef MQTTC_NO_WEBSOCKET
/* The value of header `name` in this line (spaces around it dropped, in place), or NULL
   when the line is another header. */
static char *mqttc__http_header(char *line, const char *name) {
    size_t n = strlen(name);
    if (!mqttc__same_word(line, name, n) || line[n] != ':') return NULL;
    char *v = line + n + 1, *end = v + strlen(v);
    while (*v == ' ' || *v == '\t') v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) *--end = '\0';
    return v;
}
#endif
#endif

/* ---- URLs: scheme://[user[:password]@]host[:port][/path] ---- */
#ifndef MQTTC_NO_SOCKETS
/* 1 when s has no space nor control character: a host or a path that goes into an HTTP
   request line or header can end neither early (header injection). */
static int mqttc__is_token_text(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f) return 0;
    return 1;
}

/* MQTTC_OK, or MQTTC_ERR_ARG for a scheme not in the NULL-terminated table, an empty or
   overlong host, a port outside 1..65535, or a character no URL has there. */
static int mqttc__url_parse(const char *s, const char *const *schemes, mqttc__url *u) {
    const char *sep = strstr(s, "://"), *a, *end, *at = NULL;
    memset(u, 0, sizeof *u);
    u->scheme = -1;
    if (!sep) return MQTTC_ERR_ARG;
    for (int i = 0; schemes[i]; i++)
        if (strlen(schemes[i]) == (size_t)(sep - s) && mqttc__same_word(s, schemes[i], (size_t)(sep - s))) u->scheme = i;
    a = sep + 3;
    end = a + strcspn(a, "/");
    for (const char *p = a; p < end; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) return MQTTC_ERR_ARG;
        if (*p == '@') at = p; /* the last '@': a password may hold one escaped or not */
    }
    if (u->scheme < 0 || !mqttc__is_token_text(end) || strchr(end, '#')) return MQTTC_ERR_ARG; /* (no fragment:
                                                                  RFC 6455 3) */
    u->path = *end ? end : NULL;
    if (at) {
        const char *colon = (const char *)memchr(a, ':', (size_t)(at - a));
        u->user = a;
        u->user_len = (size_t)((colon ? colon : at) - a);
        if (colon) {
            u->pass = colon + 1;
            u->pass_len = (size_t)(at - colon - 1);
        }
        a = at + 1;
    }
    if (*a == '[') { /* an IPv6 literal */
        const char *rb = (const char *)memchr(a, ']', (size_t)(end - a));
        if (!rb) return MQTTC_ERR_ARG;
        u->host = a + 1;
        u->host_len = (size_t)(rb - a - 1);
        a = rb + 1;
    } else {
        const char *colon = (const char *)memchr(a, ':', (size_t)(end - a));
        u->host = a;
        u->host_len = (size_t)((colon ? colon : end) - a);
        a += u->host_len;
    }
    if (a < end) {
        long port = 0;
        if (*a++ != ':' || a == end) return MQTTC_ERR_ARG;
        for (; a < end && *a >= '0' && *a <= '9' && port <= 65535; a++) port = port * 10 + (*a - '0');
        if (a != end || port < 1 || port > 65535) return MQTTC_ERR_ARG;
        u->port = (int)port;
    }
    return u->host_len == 0 || u->host_len > 255 || memchr(u->host, '[', u->host_len) ? MQTTC_ERR_ARG : MQTTC_OK;
}

static int mqttc__hex(int ch) {
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* Percent-escapes undone (RFC 3986 2.1) from s[0..len) into out (len bytes are enough);
   the length, or -1 for a broken escape. */
static long mqttc__unescape(const char *s, size_t len, char *out) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            out[n++] = s[i];
            continue;
        }
        if (i + 2 >= len) return -1;
        int h = mqttc__hex((unsigned char)s[i + 1]), l = mqttc__hex((unsigned char)s[i + 2]);
        if (h < 0 || l < 0) return -1;
        out[n++] = (char)(h * 16 + l);
        i += 2;
    }
    return (long)n;
}

/* The host of a URL, NUL-terminated, into buf[256]. */
static const char *mqttc__url_host(const mqttc__url *u, char *buf) {
    memcpy(buf, u->host, u->host_len);
    buf[u->host_len] = '\0';
    return buf;
}
#endif

#ifndef MQTTC_NO_SOCKETS
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifdef MSG_NOSIGNAL
#define MQTTC__SEND_FLAGS MSG_NOSIGNAL /* a closed peer is an error, not a SIGPIPE */
#else
#define MQTTC__SEND_FLAGS 0
#endif

static int mqttc__tcp_send(mqttc_transport *t, const unsigned char *buf, size_t len, size_t *n) {
    for (;;) {
        ssize_t r = send(t->fd, buf, len, MQTTC__SEND_FLAGS);
        if (r >= 0) { *n = (size_t)r; return MQTTC_OK; }
        if (errno == EINTR) continue;
        *n = 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return MQTTC_OK;
        return (errno == EPIPE || errno == ECONNRESET) ? MQTTC_ERR_CLOSED : MQTTC_ERR_IO;
    }
}

static int mqttc__tcp_recv(mqttc_transport *t, unsigned char *buf, size_t cap, size_t *n) {
    for (;;) {
        ssize_t r = recv(t->fd, buf, cap, 0);
        if (r > 0) { *n = (size_t)r; return MQTTC_OK; }
        *n = 0;
        if (r == 0) return MQTTC_ERR_CLOSED;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return MQTTC_OK;
        return errno == ECONNRESET ? MQTTC_ERR_CLOSED : MQTTC_ERR_IO;
    }
}

/* The addresses still to try: slot[0] the getaddrinfo list, slot[1] the next one. */
static void mqttc__tcp_close(mqttc_transport *t) {
    if (t->fd >= 0) close(t->fd);
    if (t->slot[0]) freeaddrinfo((struct addrinfo *)t->slot[0]);
    t->slot[0] = t->slot[1] = NULL;
    t->fd = -1;
}

/* Non-blocking, no Nagle delay (small packets leave at once), no SIGPIPE where the system
   has a socket option for it instead of MSG_NOSIGNAL. */
static int mqttc__tcp_prepare(int fd) {
    int one = 1, flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return MQTTC_ERR_IO;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails on non-TCP fds: fine */
#ifdef SO_NOSIGPIPE
    (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    return MQTTC_OK;
}

static void mqttc__tcp_transport(mqttc_transport *t, int fd) {
    memset(t, 0, sizeof *t);
    t->send = mqttc__tcp_send;
    t->recv = mqttc__tcp_recv;
    t->close = mqttc__tcp_close;
    t->fd = fd;
}

static int mqttc__tcp_resolve(const char *host, int port, struct addrinfo **list) {
    struct addrinfo hints;
    char service[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC; /* IPv4 and IPv6 */
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof service, "%d", port);
    return getaddrinfo(host, service, &hints, list) == 0 ? MQTTC_OK : MQTTC_ERR_CANNOTRESOLVE;
}

/* Starts a non-blocking connect to the next address that takes one (t->fd >= 0, MQTTC_OK:
   connected or in progress); MQTTC_ERR_CANNOTCONNECT when no address is left. */
static int mqttc__tcp_connect_next(mqttc_transport *t) {
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
    for (struct addrinfo *ai = (struct addrinfo *)t->slot[1]; ai; ai = ai->ai_next) {
        t->slot[1] = ai->ai_next;
        int s = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (s < 0) continue;
        if (mqttc__tcp_prepare(s) == MQTTC_OK &&
            (connect(s, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS)) {
            t->fd = s;
            return MQTTC_OK;
        }
        close(s);
    }
    return MQTTC_ERR_CANNOTCONNECT;
}

/* MQTTC_OK once the connect completed, MQTTC_MORE while pending, else an error. */
static int mqttc__tcp_connect_done(int fd) {
    struct pollfd pfd;
    int err = 0;
    socklen_t len = sizeof err;
    pfd.fd = fd;
    pfd.events = POLLOUT;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) == 0) return MQTTC_MORE;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return MQTTC_ERR_CANNOTCONNECT;
    if (err) {
        errno = err; /* kept by mqttc__fail for mqttc_sys_errno: ECONNREFUSED, ... */
        return MQTTC_ERR_CANNOTCONNECT;
    }
    return MQTTC_OK;
}

/* The TCP stage's handshake is its connect: each address in turn until one answers. */
static int mqttc__tcp_handshake(mqttc_transport *t) {
    int rc = mqttc__tcp_connect_done(t->fd);
    if (rc == MQTTC_ERR_CANNOTCONNECT) rc = mqttc__tcp_connect_next(t) == MQTTC_OK ? MQTTC_MORE : rc;
    if (rc != MQTTC_MORE) { /* done with the address list */
        freeaddrinfo((struct addrinfo *)t->slot[0]);
        t->slot[0] = t->slot[1] = NULL;
    }
    t->want = rc == MQTTC_MORE ? (unsigned)MQTTC_EV_WRITE : 0u;
    return rc;
}

/* The bottom stage to the next hop: resolved now (getaddrinfo blocks; a numeric address
   does not), connected by its handshake. */
static int mqttc__tcp_open(mqttc_transport *t, const char *host, int port) {
    struct addrinfo *list = NULL;
    mqttc__tcp_transport(t, -1);
    int rc = mqttc__tcp_resolve(host, port, &list);
    if (rc != MQTTC_OK) return rc;
    t->slot[0] = t->slot[1] = list;
    t->handshake = mqttc__tcp_handshake;
    t->want = MQTTC_EV_WRITE;
    rc = mqttc__tcp_connect_next(t);
    if (rc != MQTTC_OK) mqttc__tcp_close(t);
    return rc;
}

/* A socket someone else connected (a proxy, a test): the bottom stage as it is. */
static int mqttc__tcp_adopt(mqttc_transport *t, int fd) {
    mqttc__tcp_transport(t, fd);
    if (mqttc__tcp_prepare(fd) == MQTTC_OK) return MQTTC_OK;
    mqttc__tcp_close(t);
    return MQTTC_ERR_IO;
}

static int mqttc__last_errno(void) { return errno; }

/* For the generated client id: process and wall clock, so two processes never share an id
   even without address randomisation (Valgrind), which would make the broker close the
   first when the second connects [MQTT-3.1.4-2]. */
static uint64_t mqttc__id_entropy(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)getpid() << 40) ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec;
}
#else
static uint64_t mqttc__id_entropy(void) { return 0; }
static int mqttc__last_errno(void) { return 0; }
#endif /* MQTTC_NO_SOCKETS */

/* >>tls ----------------------------------------------------------------------------------- */
/* TLS is a stage over the one below: OpenSSL reads and writes through a BIO whose read and
   write are the inner transport's recv and send, so TCP, an adopted socket and a transport
   given to mqttc_start_transport are wrapped alike. Its handshake first completes the inner
   one (the TCP connect), then its own, then checks trust before the client may send CONNECT. */

/* TLS settings on a connection that is not TLS would silently be ignored: the first one
   set is refused at connect (the connection's scheme decides, not only options.secure). */
static const char *mqttc__tls_field_set(const mqttc_options *o) {
    if (o->tls_ca_file) return "options.tls_ca_file";
    if (o->tls_ca_path) return "options.tls_ca_path";
    if (o->tls_cert_file) return "options.tls_cert_file";
    if (o->tls_key_file) return "options.tls_key_file";
    if (o->tls_server_name) return "options.tls_server_name";
    if (o->tls_verify) return "options.tls_verify";
    if (o->tls_insecure_skip_hostname_check) return "options.tls_insecure_skip_hostname_check";
    if (o->tls_alpn) return "options.tls_alpn";
    return NULL;
}

/* ALPN's wire form (RFC 7301 3.1) of a comma-separated list into out[cap]: its length, or 0
   for an empty name, one over 255 bytes, or a list that does not fit. */
static size_t mqttc__alpn_wire(const char *list, unsigned char *out, size_t cap) {
    size_t n = 0;
    for (const char *p = list;;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > 255 || n + 1 + len > cap) return 0;
        out[n++] = (unsigned char)len;
        memcpy(out + n, p, len);
        n += len;
        if (!p[len]) return n;
        p += len + 1;
    }
}

/* At init: a key without its certificate authenticates nothing; an ALPN list must be one.
   The bad field, or NULL. */
static const char *mqttc__tls_fields_bad(const mqttc_options *o) {
    unsigned char wire[512];
    if (o->tls_alpn && !mqttc__alpn_wire(o->tls_alpn, wire, sizeof wire)) return "options.tls_alpn";
    return o->tls_key_file && !o->tls_cert_file ? "options.tls_key_file" : NULL;
}

#ifdef MQTTC_WITH_OPENSSL
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#if OPENSSL_VERSION_NUMBER < 0x10101000L
#error "MQTTC_WITH_OPENSSL needs OpenSSL 1.1.1 or later"
#endif

static const char *mqttc__tls_options_bad(const mqttc_options *o) { return mqttc__tls_fields_bad(o); }

/* The client's TLS state: made at its first secure connect, kept until mqttc_deinit. */
typedef struct mqttc__tls_client {
    SSL_CTX *ctx;           /* CAs, client certificate, protocol versions */
    BIO_METHOD *bio_method; /* the BIO over an inner transport */
    char *server_name;      /* SNI and the name checked; NULL when none is known */
} mqttc__tls_client;

/* One TLS connection: the wrapping transport's ctx. */
typedef struct mqttc__tls_conn {
    mqttc_transport inner;
    int inner_ready;               /* the inner transport's handshake is done */
    SSL *ssl;
    const char *server_name;       /* the client's copy; it outlives the connection */
    int inner_error;               /* the inner transport's own error, kept through OpenSSL */
    unsigned want_recv, want_send; /* events SSL_read / SSL_write wait for, beyond their own */
    int must_verify;               /* credentials to protect, or options.tls_verify */
    int skips_hostname;            /* options.tls_insecure_skip_hostname_check */
    int has_received;              /* an application byte arrived: the session is up */
} mqttc__tls_conn;

static int mqttc__tls_bio_write(BIO *b, const char *buf, int len) {
    mqttc__tls_conn *s = (mqttc__tls_conn *)BIO_get_data(b);
    size_t n = 0;
    BIO_clear_retry_flags(b);
    int rc = s->inner.send(&s->inner, (const unsigned char *)buf, (size_t)len, &n);
    if (rc != MQTTC_OK) { s->inner_error = rc; return -1; }
    if (n == 0) { BIO_set_retry_write(b); return -1; }
    return (int)n;
}

static int mqttc__tls_bio_read(BIO *b, char *buf, int len) {
    mqttc__tls_conn *s = (mqttc__tls_conn *)BIO_get_data(b);
    size_t n = 0;
    BIO_clear_retry_flags(b);
    int rc = s->inner.recv(&s->inner, (unsigned char *)buf, (size_t)len, &n);
    if (rc != MQTTC_OK) { s->inner_error = rc; return rc == MQTTC_ERR_CLOSED ? 0 : -1; }
    if (n == 0) { BIO_set_retry_read(b); return -1; }
    return (int)n;
}

static long mqttc__tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)b; (void)num; (void)ptr;
    return cmd == BIO_CTRL_FLUSH; /* writes go straight through: nothing to flush */
}

/* The server ended the session with a fatal alert (a close_notify is SSL_ERROR_ZERO_RETURN). */
static int mqttc__tls_got_alert(const mqttc__tls_conn *s, int e) {
    return e == SSL_ERROR_SSL && (SSL_get_shutdown(s->ssl) & SSL_RECEIVED_SHUTDOWN);
}

/* TLS 1.3 servers judge the client's certificate after the client's side of the handshake
   has ended: a refusal is an alert, then a reset that the first write (CONNECT) may meet
   before any read. The alert still waits in the socket: read it, to say "sslhandshake". */
static int mqttc__tls_was_refused(mqttc__tls_conn *s) {
    unsigned char b[64];
    int r = SSL_read(s->ssl, b, (int)sizeof b);
    int e = SSL_get_error(s->ssl, r);
    ERR_clear_error();
    return r <= 0 && mqttc__tls_got_alert(s, e);
}

/* An SSL call returned r <= 0: a wait (MQTTC_OK, *want = the event it waits for) or the
   end. Before the first application byte, the server's fatal alert means the handshake
   failed; else the inner transport's error says it best. */
static int mqttc__tls_result(mqttc__tls_conn *s, int r, unsigned *want) {
    int e = SSL_get_error(s->ssl, r);
    *want = 0;
    if (e == SSL_ERROR_WANT_READ) { *want = MQTTC_EV_READ; return MQTTC_OK; }
    if (e == SSL_ERROR_WANT_WRITE) { *want = MQTTC_EV_WRITE; return MQTTC_OK; }
    int got_alert = mqttc__tls_got_alert(s, e);
    ERR_clear_error();
    if (!s->has_received && (got_alert || (s->inner_error && mqttc__tls_was_refused(s))))
        return MQTTC_ERR_SSLHANDSHAKE;
    if (s->inner_error) return s->inner_error;
    if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL) return MQTTC_ERR_CLOSED;
    return s->has_received ? MQTTC_ERR_IO : MQTTC_ERR_SSLHANDSHAKE;
}

static int mqttc__tls_send(mqttc_transport *t, const unsigned char *buf, size_t len, size_t *n) {
    mqttc__tls_conn *s = (mqttc__tls_conn *)t->ctx;
    unsigned want = 0;
    int rc = MQTTC_OK;
    *n = 0;
    ERR_clear_error();
    int r = SSL_write(s->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (r > 0) *n = (size_t)r;
    else rc = mqttc__tls_result(s, r, &want);
    s->want_send = want & MQTTC_EV_READ; /* writability the client asks for by itself */
    t->want = s->want_recv | s->want_send;
    return rc;
}

/* A TLS record is decrypted whole: what did not fit in buf stays inside OpenSSL, where poll
   cannot see it; has_buffered_input makes the client step again at once. */
static int mqttc__tls_recv(mqttc_transport *t, unsigned char *buf, size_t cap, size_t *n) {
    mqttc__tls_conn *s = (mqttc__tls_conn *)t->ctx;
    unsigned want = 0;
    int rc = MQTTC_OK;
    *n = 0;
    ERR_clear_error();
    int r = SSL_read(s->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (r > 0) { *n = (size_t)r; s->has_received = 1; }
    else rc = mqttc__tls_result(s, r, &want);
    s->want_recv = want & MQTTC_EV_WRITE; /* readability the client asks for by itself */
    t->want = s->want_recv | s->want_send;
    t->has_buffered_input = rc == MQTTC_OK && SSL_pending(s->ssl) > 0;
    return rc;
}

/* The name the broker was asked for: an IP address in the certificate's IP entries, a host
   name in its DNS names (no partial wildcards such as "b*z.example.com"). */
static int mqttc__tls_names_server(X509 *cert, const char *name) {
    if (!name || !*name) return 0; /* nothing to compare with: not verified */
    int r = X509_check_ip_asc(cert, name, 0);
    if (r == -2) r = X509_check_host(cert, name, strlen(name), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
    return r == 1;
}

/* The seed's trust rule: with credentials at stake, the chain must lead to a trusted CA
   and the certificate must name the server, or CONNECT (and the password in it) never
   leaves. The handshake itself runs with SSL_VERIFY_NONE so that the verdict comes out
   here as "cert" or "cn", not as a failed handshake. */
static int mqttc__tls_check_peer(const mqttc__tls_conn *s) {
    if (!s->must_verify) return MQTTC_OK;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    X509 *cert = SSL_get1_peer_certificate(s->ssl);
#else
    X509 *cert = SSL_get_peer_certificate(s->ssl);
#endif
    int rc = MQTTC_OK;
    if (!cert || SSL_get_verify_result(s->ssl) != X509_V_OK) rc = MQTTC_ERR_CERT;
    else if (!s->skips_hostname && !mqttc__tls_names_server(cert, s->server_name)) rc = MQTTC_ERR_CN;
    X509_free(cert);
    return rc;
}

/* The inner stage first (its errors are its own: "cannotconnect" stays that), then ours. */
static int mqttc__tls_handshake(mqttc_transport *t) {
    mqttc__tls_conn *s = (mqttc__tls_conn *)t->ctx;
    int rc = mqttc__inner_handshake(t, &s->inner, &s->inner_ready);
    if (rc != MQTTC_OK) return rc;
    ERR_clear_error();
    int r = SSL_do_handshake(s->ssl);
    if (r == 1) {
        t->want = 0;
        return mqttc__tls_check_peer(s);
    }
    if (mqttc__tls_result(s, r, &t->want) == MQTTC_OK) return MQTTC_MORE;
    return MQTTC_ERR_SSLHANDSHAKE; /* a closed socket included: the handshake failed */
}

/* close_notify when the session is up and the socket still works (best effort, never
   waits), then the inner transport's own close. */
static void mqttc__tls_close(mqttc_transport *t) {
    mqttc__tls_conn *s = (mqttc__tls_conn *)t->ctx;
    if (!s) return;
    if (!s->inner_error && SSL_is_init_finished(s->ssl)) (void)SSL_shutdown(s->ssl);
    ERR_clear_error();
    SSL_free(s->ssl); /* and the BIO */
    if (s->inner.close) s->inner.close(&s->inner);
    MQTTC_FREE(s);
    t->ctx = NULL;
    t->fd = -1;
    t->want = 0;
    t->has_buffered_input = 0;
}

static int mqttc__tls_no_passphrase(char *buf, int size, int rwflag, void *user) {
    (void)buf; (void)size; (void)rwflag; (void)user;
    return 0; /* never prompt on the terminal for an encrypted key: loading it fails */
}

/* CAs (options, else the system store) and the client certificate. An unreadable file is
   the caller's argument (MQTTC_ERR_ARG, before any connection is attempted): its option's
   name, or NULL when all loaded. */
static const char *mqttc__tls_load(SSL_CTX *ctx, const mqttc_options *o) {
    if (o->tls_ca_file || o->tls_ca_path) {
        if (SSL_CTX_load_verify_locations(ctx, o->tls_ca_file, o->tls_ca_path) != 1)
            return o->tls_ca_file ? "options.tls_ca_file" : "options.tls_ca_path";
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        return "options.tls_ca_path"; /* the system store: none given, none found */
    }
    if (!o->tls_cert_file) return NULL;
    SSL_CTX_set_default_passwd_cb(ctx, mqttc__tls_no_passphrase);
    if (SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert_file) != 1) return "options.tls_cert_file";
    if (SSL_CTX_use_PrivateKey_file(ctx, o->tls_key_file ? o->tls_key_file : o->tls_cert_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        return "options.tls_key_file";
    return NULL;
}

static void mqttc__tls_free(mqttc__stages *st) {
    mqttc__tls_client *tc = (mqttc__tls_client *)st->tls;
    if (!tc) return;
    SSL_CTX_free(tc->ctx);
    BIO_meth_free(tc->bio_method);
    if (tc->server_name) MQTTC_FREE(tc->server_name);
    MQTTC_FREE(tc);
    st->tls = NULL;
}

/* The client's TLS context, made at its first secure connection and kept: TLS 1.2 at least;
   SSL_write may take part of a buffer that moves between calls (the output buffer grows);
   no renegotiation. An unreadable file is named in *bad (MQTTC_ERR_ARG). */
static int mqttc__tls_context(mqttc__stages *st, const mqttc_options *o, const char **bad) {
    if (st->tls) return MQTTC_OK;
    mqttc__tls_client *tc = (mqttc__tls_client *)MQTTC_MALLOC(sizeof *tc);
    if (!tc) return MQTTC_ERR_NOMEM;
    memset(tc, 0, sizeof *tc);
    st->tls = tc;
    tc->ctx = SSL_CTX_new(TLS_client_method());
    tc->bio_method = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "mqttc transport");
    if (!tc->ctx || !tc->bio_method) {
        mqttc__tls_free(st);
        return MQTTC_ERR_NOMEM;
    }
    BIO_meth_set_write(tc->bio_method, mqttc__tls_bio_write);
    BIO_meth_set_read(tc->bio_method, mqttc__tls_bio_read);
    BIO_meth_set_ctrl(tc->bio_method, mqttc__tls_bio_ctrl);
    SSL_CTX_set_min_proto_version(tc->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(tc->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_NO_RENEGOTIATION
    SSL_CTX_set_options(tc->ctx, SSL_OP_NO_RENEGOTIATION);
#endif
    *bad = mqttc__tls_load(tc->ctx, o);
    ERR_clear_error();
    if (!*bad) return MQTTC_OK;
    mqttc__tls_free(st);
    return MQTTC_ERR_ARG;
}

/* The name checked and sent (SNI) for this connection: options.tls_server_name, else the
   target broker's host (NULL over an adopted socket: nothing is known). */
static int mqttc__tls_name(mqttc__tls_client *tc, const mqttc_options *o, const char *target) {
    const char *name = o->tls_server_name ? o->tls_server_name : target;
    if (tc->server_name) MQTTC_FREE(tc->server_name);
    tc->server_name = NULL;
    if (!name) return MQTTC_OK;
    size_t len = strlen(name) + 1;
    tc->server_name = (char *)MQTTC_MALLOC(len);
    if (!tc->server_name) return MQTTC_ERR_NOMEM;
    memcpy(tc->server_name, name, len);
    return MQTTC_OK;
}

/* SNI names a host, never an address (RFC 6066, section 3). */
static void mqttc__tls_set_sni(SSL *ssl, const char *name) {
    if (!name || !*name) return;
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(name);
    if (ip) ASN1_OCTET_STRING_free(ip);
    else SSL_set_tlsext_host_name(ssl, name);
}

/* The TLS stage: *t (connected or still in its own handshake) becomes the inner transport
   of a TLS one. On failure *t is untouched (the caller closes it). */
static int mqttc__tls_stage(mqttc__stages *st, const mqttc_options *o, const mqttc__endpoint *ep, mqttc_transport *t,
                            const char **bad) {
    const char *target = ep->host;
    int rc = mqttc__tls_context(st, o, bad);
    mqttc__tls_client *tc = (mqttc__tls_client *)st->tls;
    if (rc == MQTTC_OK) rc = mqttc__tls_name(tc, o, target);
    if (rc != MQTTC_OK) return rc;
    mqttc__tls_conn *s = (mqttc__tls_conn *)MQTTC_MALLOC(sizeof *s);
    if (!s) return MQTTC_ERR_NOMEM;
    memset(s, 0, sizeof *s);
    s->inner = *t;
    s->inner_ready = !t->handshake;
    s->server_name = tc->server_name;
    s->must_verify = o->username || o->password || ep->has_login || o->tls_verify;
    s->skips_hostname = o->tls_insecure_skip_hostname_check;
    s->ssl = SSL_new(tc->ctx);
    BIO *bio = s->ssl ? BIO_new(tc->bio_method) : NULL;
    if (!bio) {
        SSL_free(s->ssl);
        MQTTC_FREE(s);
        return MQTTC_ERR_NOMEM;
    }
    BIO_set_data(bio, s);
    BIO_set_init(bio, 1);
    SSL_set_bio(s->ssl, bio, bio);
    SSL_set_connect_state(s->ssl);
    mqttc__tls_set_sni(s->ssl, s->server_name);
    if (o->tls_alpn) { /* (checked at init) */
        unsigned char wire[512];
        size_t n = mqttc__alpn_wire(o->tls_alpn, wire, sizeof wire);
        (void)SSL_set_alpn_protos(s->ssl, wire, (unsigned)n);
    }
    static const mqttc_transport calls = {mqttc__tls_send, mqttc__tls_recv, mqttc__tls_handshake, mqttc__tls_close,
                                          -1, 0, NULL, {NULL, NULL}, 0, NULL, 0};
    mqttc__stage_over(t, &s->inner, &calls, s);
    return MQTTC_OK;
}

#else /* no MQTTC_WITH_OPENSSL: options.secure is refused, nothing else changes */
static const char *mqttc__tls_options_bad(const mqttc_options *o) { /* built without TLS: no connection is */
    const char *set = mqttc__tls_field_set(o);
    return o->secure ? "options.secure" : set ? set : mqttc__tls_fields_bad(o);
}
static int mqttc__tls_stage(mqttc__stages *st, const mqttc_options *o, const mqttc__endpoint *ep, mqttc_transport *t,
                            const char **bad) {
    (void)st; (void)o; (void)ep; (void)t;
    *bad = "options.secure";
    return MQTTC_ERR_ARG;
}
static void mqttc__tls_free(mqttc__stages *st) { (void)st; }
#endif /* MQTTC_WITH_OPENSSL */

/* >>proxy --------------------------------------------------------------------------------- */
/* The proxy stage sits on TCP to the proxy and asks it for a way to the broker: SOCKS5
   (RFC 1928, with RFC 1929's user name and password) or HTTP CONNECT (RFC 9110 9.3.6, Basic
   authentication, RFC 7617). Its handshake writes the request and reads the answer exactly
   to its end; then it passes bytes through untouched. */
#if !defined(MQTTC_NO_SOCKETS) && !defined(MQTTC_NO_PROXY)
#include <arpa/inet.h>

enum { MQTTC__SOCKS5H, MQTTC__SOCKS5, MQTTC__HTTP }; /* the schemes of options.proxy, in order */
static const char *const mqttc__proxy_schemes[] = {"socks5h", "socks5", "http", NULL};

/* The steps of a handshake: SOCKS5 greets, maybe logs in, then asks; HTTP asks. */
enum { MQTTC__PX_GREET, MQTTC__PX_METHOD, MQTTC__PX_LOGIN, MQTTC__PX_LOGIN_OK, MQTTC__PX_ASK, MQTTC__PX_ANSWER };

typedef struct mqttc__proxy_conn {
    mqttc_transport inner;
    int inner_ready;
    int kind;                       /* MQTTC__SOCKS5H, _SOCKS5, _HTTP */
    int step;                       /* MQTTC__PX_*; past the last: open */
    size_t pos;                     /* bytes of the current message written, or read */
    size_t ask_len, login_len;
    unsigned char greet[4];         /* SOCKS5: the methods we offer */
    unsigned char answer[4 + 1 + 255 + 2]; /* SOCKS5: the longest reply (a domain name) */
    unsigned char login[3 + 255 + 255]; /* SOCKS5: RFC 1929's request */
    mqttc__http http;               /* HTTP: the answer's lines */
    unsigned char ask[1024];        /* SOCKS5's CONNECT request, or HTTP's */
} mqttc__proxy_conn;

/* SOCKS5's reply codes (RFC 1928 6), for mqttc_error_detail. */
static const char *mqttc__socks_reply(int rep) {
    static const char *const text[] = {"socks5: succeeded", "socks5: general SOCKS server failure",
                                       "socks5: connection not allowed by ruleset", "socks5: network unreachable",
                                       "socks5: host unreachable", "socks5: connection refused", "socks5: TTL expired",
                                       "socks5: command not supported", "socks5: address type not supported"};
    return rep >= 0 && rep <= 8 ? text[rep] : "socks5: unassigned reply code";
}

/* The broker's address in a SOCKS5 request at p: an IPv4 or IPv6 literal as such, a name
   for the proxy to resolve (socks5h), or resolved here (socks5). The bytes written, or an
   error. */
static int mqttc__socks_address(int kind, const char *host, unsigned char *p, size_t *n) {
    struct in6_addr a6;
    struct addrinfo *list = NULL;
    size_t len = strlen(host);
    if (inet_pton(AF_INET, host, p + 1) == 1) { p[0] = 1; *n = 5; return MQTTC_OK; }
    if (inet_pton(AF_INET6, host, &a6) == 1) { p[0] = 4; memcpy(p + 1, &a6, 16); *n = 17; return MQTTC_OK; }
    if (kind == MQTTC__SOCKS5H) { /* the name travels: only the proxy resolves it */
        if (len > 255) return MQTTC_ERR_ARG;
        p[0] = 3;
        p[1] = (unsigned char)len;
        memcpy(p + 2, host, len);
        *n = 2 + len;
        return MQTTC_OK;
    }
    if (mqttc__tcp_resolve(host, 1, &list) != MQTTC_OK) return MQTTC_ERR_CANNOTRESOLVE;
    if (list->ai_family == AF_INET) {
        p[0] = 1;
        memcpy(p + 1, &((struct sockaddr_in *)(void *)list->ai_addr)->sin_addr, 4);
        *n = 5;
    } else {
        p[0] = 4;
        memcpy(p + 1, &((struct sockaddr_in6 *)(void *)list->ai_addr)->sin6_addr, 16);
        *n = 17;
    }
    freeaddrinfo(list);
    return MQTTC_OK;
}

/* SOCKS5's messages, all made up front: the greeting (no authentication, and user name and
   password when we have them), the login, and CONNECT to the broker. */
static int mqttc__socks_prepare(mqttc__proxy_conn *s, const char *user, size_t ulen, const char *pass, size_t plen,
                                const char *host, int port) {
    size_t n = 0;
    s->greet[0] = 5;
    s->greet[1] = user ? 2 : 1;
    s->greet[2] = 0;
    s->greet[3] = 2;
    if (user) {
        if (ulen > 255 || plen > 255) return MQTTC_ERR_ARG;
        s->login[0] = 1; /* the subnegotiation's version */
        s->login[1] = (unsigned char)ulen;
        memcpy(s->login + 2, user, ulen);
        s->login[2 + ulen] = (unsigned char)plen;
        memcpy(s->login + 3 + ulen, pass, plen);
        s->login_len = 3 + ulen + plen;
    }
    s->ask[0] = 5;
    s->ask[1] = 1; /* CONNECT */
    s->ask[2] = 0;
    int rc = mqttc__socks_address(s->kind, host, s->ask + 3, &n);
    if (rc != MQTTC_OK) return rc;
    mqttc__put16(s->ask + 3 + n, (unsigned)port);
    s->ask_len = 3 + n + 2;
    return MQTTC_OK;
}

/* HTTP's request: CONNECT host:port, with Basic credentials when we have them. */
static int mqttc__http_prepare(mqttc__proxy_conn *s, const char *user, size_t ulen, const char *pass, size_t plen,
                               const char *host, int port) {
    char cred[512], b64[700], auth[740] = "";
    const char *l = strchr(host, ':') ? "[" : "", *r = *l ? "]" : "";
    if (user) {
        if (ulen + 1 + plen > sizeof cred) return MQTTC_ERR_ARG;
        memcpy(cred, user, ulen);
        cred[ulen] = ':';
        memcpy(cred + ulen + 1, pass, plen);
        mqttc__base64((const unsigned char *)cred, ulen + 1 + plen, b64);
        snprintf(auth, sizeof auth, "Proxy-Authorization: Basic %s\r\n", b64);
    }
    int n = snprintf((char *)s->ask, sizeof s->ask, "CONNECT %s%s%s:%d HTTP/1.1\r\nHost: %s%s%s:%d\r\n%s\r\n", l, host, r,
                     port, l, host, r, port, auth);
    if (n < 0 || (size_t)n >= sizeof s->ask) return MQTTC_ERR_ARG;
    s->ask_len = (size_t)n;
    return MQTTC_OK;
}

/* The method the proxy chose: none needed (on to CONNECT), ours (log in), or a refusal. */
static int mqttc__socks_method(mqttc_transport *t, mqttc__proxy_conn *s) {
    if (s->answer[0] != 5) return mqttc__stage_says(t, MQTTC_ERR_PROXY, "socks5: the proxy does not speak SOCKS5", 0);
    if (s->answer[1] == 0xFF)
        return mqttc__stage_says(t, MQTTC_ERR_PROXYAUTH, "socks5: no acceptable authentication method", 0);
    if (s->answer[1] == 2 && s->login_len) {
        s->step = MQTTC__PX_LOGIN;
        return MQTTC_OK;
    }
    if (s->answer[1] != 0) return mqttc__stage_says(t, MQTTC_ERR_PROXY, "socks5: a method we did not offer", 0);
    s->step = MQTTC__PX_ASK;
    return MQTTC_OK;
}

/* The SOCKS5 reply: VER REP RSV ATYP, then an address whose length ATYP gives, and a port.
   The code is judged as soon as it is in. need: the reply's whole length once known. */
static int mqttc__socks_answer(mqttc_transport *t, mqttc__proxy_conn *s) {
    size_t need = 2;
    for (;;) {
        int rc = mqttc__stage_read(t, &s->inner, s->answer, need, &s->pos);
        if (rc != MQTTC_OK) return rc;
        if (s->answer[0] != 5) return mqttc__stage_says(t, MQTTC_ERR_PROXY, "socks5: the proxy does not speak SOCKS5", 0);
        if (s->answer[1] != 0) return mqttc__stage_says(t, MQTTC_ERR_PROXY, mqttc__socks_reply(s->answer[1]), s->answer[1]);
        if (s->pos < 5) { need = 5; continue; }
        switch (s->answer[3]) {
        case 1: need = 4 + 4 + 2; break;
        case 3: need = 4 + 1 + (size_t)s->answer[4] + 2; break;
        case 4: need = 4 + 16 + 2; break;
        default: return mqttc__stage_says(t, MQTTC_ERR_PROXY, "socks5: a reply with an unknown address type", 0);
        }
        if (s->pos == need) return MQTTC_OK;
    }
}

/* HTTP's answer: a 2xx status opens the tunnel once the headers are over; 407 asks for
   (other) credentials; anything else is the proxy's refusal, with its status. */
static int mqttc__http_answer(mqttc_transport *t, mqttc__proxy_conn *s) {
    int rc;
    while ((rc = mqttc__http_line(t, &s->inner, &s->http)) == MQTTC_OK) {
        if (s->http.status == 0) {
            int st = mqttc__http_status(s->http.line);
            if (st < 0) return mqttc__stage_says(t, MQTTC_ERR_PROXY, "http proxy: not an HTTP answer", 0);
            if (st == 407 || st == 401) /* (tinyproxy answers a refused login with 401) */
                return mqttc__stage_says(t, MQTTC_ERR_PROXYAUTH, "http proxy: authentication required or refused", st);
            if (st < 200 || st > 299) return mqttc__stage_says(t, MQTTC_ERR_PROXY, "http proxy: no 2xx (mqttc_reason_code: the status)", st);
            s->http.status = st;
        } else if (!s->http.line[0]) {
            return MQTTC_OK; /* the empty line: the tunnel is open */
        }
    }
    if (rc == MQTTC_ERR_OVERFLOW) return mqttc__stage_says(t, MQTTC_ERR_PROXY, "http proxy: the answer is too long", 0);
    if (rc == MQTTC_ERR_MALFORMED) return mqttc__stage_says(t, MQTTC_ERR_PROXY, "http proxy: not an HTTP answer", 0);
    return rc;
}

static int mqttc__proxy_step(mqttc_transport *t, mqttc__proxy_conn *s) {
    int rc = MQTTC_OK;
    switch (s->step) {
    case MQTTC__PX_GREET: rc = mqttc__stage_write(t, &s->inner, s->greet, 2u + s->greet[1], &s->pos); break;
    case MQTTC__PX_METHOD: rc = mqttc__stage_read(t, &s->inner, s->answer, 2, &s->pos); break;
    case MQTTC__PX_LOGIN: rc = mqttc__stage_write(t, &s->inner, s->login, s->login_len, &s->pos); break;
    case MQTTC__PX_LOGIN_OK: rc = mqttc__stage_read(t, &s->inner, s->answer, 2, &s->pos); break;
    case MQTTC__PX_ASK: rc = mqttc__stage_write(t, &s->inner, s->ask, s->ask_len, &s->pos); break;
    default: rc = s->kind == MQTTC__HTTP ? mqttc__http_answer(t, s) : mqttc__socks_answer(t, s); break;
    }
    if (rc != MQTTC_OK) return rc;
    int step = s->step;
    s->pos = 0;
    s->step++;
    if (step == MQTTC__PX_METHOD) return mqttc__socks_method(t, s);
    if (step == MQTTC__PX_LOGIN_OK && s->answer[1] != 0) /* RFC 1929: 0 is success */
        return mqttc__stage_says(t, MQTTC_ERR_PROXYAUTH, "socks5: user name or password refused", 0);
    return MQTTC_OK;
}

/* TCP to the proxy first, then the steps; a proxy that hangs up is the proxy's failure. */
static int mqttc__proxy_handshake(mqttc_transport *t) {
    mqttc__proxy_conn *s = (mqttc__proxy_conn *)t->ctx;
    int rc = mqttc__inner_handshake(t, &s->inner, &s->inner_ready);
    while (rc == MQTTC_OK && s->step <= MQTTC__PX_ANSWER) rc = mqttc__proxy_step(t, s);
    if (rc == MQTTC_OK) t->want = 0;
    if (rc == MQTTC_ERR_CLOSED) rc = mqttc__stage_says(t, MQTTC_ERR_PROXY, "proxy: it closed the connection", 0);
    return rc;
}

static int mqttc__proxy_send(mqttc_transport *t, const unsigned char *buf, size_t len, size_t *n) {
    mqttc__proxy_conn *s = (mqttc__proxy_conn *)t->ctx;
    int rc = s->inner.send(&s->inner, buf, len, n);
    t->want = s->inner.want;
    return rc == MQTTC_OK ? rc : mqttc__stage_fail(t, &s->inner, rc);
}

static int mqttc__proxy_recv(mqttc_transport *t, unsigned char *buf, size_t cap, size_t *n) {
    mqttc__proxy_conn *s = (mqttc__proxy_conn *)t->ctx;
    int rc = s->inner.recv(&s->inner, buf, cap, n);
    t->want = s->inner.want;
    t->has_buffered_input = s->inner.has_buffered_input;
    return rc == MQTTC_OK ? rc : mqttc__stage_fail(t, &s->inner, rc);
}

static void mqttc__proxy_close(mqttc_transport *t) {
    mqttc__proxy_conn *s = (mqttc__proxy_conn *)t->ctx;
    if (!s) return;
    if (s->inner.close) s->inner.close(&s->inner);
    MQTTC_FREE(s);
    t->ctx = NULL;
    t->fd = -1;
}

/* The proxy stage over *t (TCP to the proxy), asking for host:port. On failure *t is
   untouched (the caller closes it). */
static int mqttc__proxy_stage(const mqttc__url *px, const char *host, int port, mqttc_transport *t) {
    char user[256], pass[256];
    long ulen = 0, plen = 0;
    if (!mqttc__is_token_text(host)) return MQTTC_ERR_ARG; /* it goes into the request */
    if (px->user && (px->user_len >= sizeof user || px->pass_len >= sizeof pass ||
                     (ulen = mqttc__unescape(px->user, px->user_len, user)) < 0 ||
                     (plen = mqttc__unescape(px->pass ? px->pass : "", px->pass_len, pass)) < 0))
        return MQTTC_ERR_ARG;
    mqttc__proxy_conn *s = (mqttc__proxy_conn *)MQTTC_MALLOC(sizeof *s);
    if (!s) return MQTTC_ERR_NOMEM;
    memset(s, 0, sizeof *s);
    s->kind = px->scheme;
    s->step = s->kind == MQTTC__HTTP ? MQTTC__PX_ASK : MQTTC__PX_GREET;
    const char *u = px->user ? user : NULL;
    int rc = s->kind == MQTTC__HTTP ? mqttc__http_prepare(s, u, (size_t)ulen, pass, (size_t)plen, host, port)
                                    : mqttc__socks_prepare(s, u, (size_t)ulen, pass, (size_t)plen, host, port);
    memset(user, 0, sizeof user); /* no copy of a password left on the stack */
    memset(pass, 0, sizeof pass);
    if (rc != MQTTC_OK) {
        MQTTC_FREE(s);
        return rc;
    }
    s->inner = *t;
    s->inner_ready = !t->handshake;
    static const mqttc_transport calls = {mqttc__proxy_send, mqttc__proxy_recv, mqttc__proxy_handshake, mqttc__proxy_close,
                                          -1, 0, NULL, {NULL, NULL}, 0, NULL, 0};
    mqttc__stage_over(t, &s->inner, &calls, s);
    return MQTTC_OK;
}

/* options.proxy, parsed: MQTTC_OK, or MQTTC_ERR_ARG. The default ports: 1080, 8080. */
static int mqttc__proxy_parse(const char *proxy, mqttc__url *px) {
    int rc = mqttc__url_parse(proxy, mqttc__proxy_schemes, px);
    if (rc == MQTTC_OK && !px->port) px->port = px->scheme == MQTTC__HTTP ? 8080 : 1080;
    if (rc == MQTTC_OK && px->path && strcmp(px->path, "/") != 0) rc = MQTTC_ERR_ARG;
    return rc;
}
#endif /* MQTTC_NO_PROXY */

/* >>websocket ----------------------------------------------------------------------------- */
/* The WebSocket stage (RFC 6455) over the stage below (TCP, a proxy, TLS): an HTTP upgrade,
   then MQTT's bytes in masked binary frames out and unframed in place on the way in. */
#if !defined(MQTTC_NO_SOCKETS) && !defined(MQTTC_NO_WEBSOCKET)
#ifndef MQTTC_WS_FRAME
#define MQTTC_WS_FRAME 65536 /* payload bytes of our largest frame (the output buffer's most) */
#endif

enum { MQTTC__WS_UPGRADE, MQTTC__WS_ANSWER, MQTTC__WS_OPEN };
enum { MQTTC__WS_CONT, MQTTC__WS_TEXT, MQTTC__WS_BINARY, MQTTC__WS_CLOSE = 8, MQTTC__WS_PING, MQTTC__WS_PONG };
/* The answer's headers that checked out. */
enum { MQTTC__WS_HAS_UPGRADE = 1, MQTTC__WS_HAS_CONNECTION = 2, MQTTC__WS_HAS_ACCEPT = 4, MQTTC__WS_HAS_MQTT = 8,
       MQTTC__WS_BAD_ACCEPT = 16, MQTTC__WS_HAS_EXTENSION = 32 };

typedef struct mqttc__ws_conn {
    mqttc_transport inner;
    int inner_ready, phase;    /* MQTTC__WS_UPGRADE, _ANSWER, _OPEN */
    int is_broken;             /* the inner stage failed: nothing more is written */
    uint64_t rng;              /* the masks: xorshift64*, seeded from the system's randomness */
    char accept[32];           /* the Sec-WebSocket-Accept our key asks for */
    unsigned seen;             /* MQTTC__WS_HAS_* */
    mqttc__http http;
    /* in: a frame's header, then its payload */
    unsigned char hdr[14];
    size_t hdr_len;
    uint64_t left;             /* payload bytes of the current frame still to come */
    int in_payload, opcode, in_message; /* in_message: a fragmented data message goes on */
    int peer_closed;           /* the server's CLOSE came: the data before it is delivered */
    unsigned char ctl[125];    /* a control frame's payload */
    size_t ctl_len;
    /* out: a control frame waiting (PONG, CLOSE), then the data frame being written */
    unsigned char ctl_out[2 + 4 + 125];
    size_t ctl_out_len, ctl_out_pos;
    size_t out_len, out_pos;
    size_t out_taken;          /* the caller's bytes in that frame, told once it is all out */
    unsigned char *out;        /* the upgrade request first, then each frame, masked */
    size_t out_cap;            /* from 4 KiB up to MQTTC_WS_FRAME + 14, as writes need */
} mqttc__ws_conn;

/* Randomness for the key and the masks (RFC 6455 10.3: unpredictable to the application):
   OpenSSL's when it is built in, else the system's. */
static int mqttc__random(unsigned char *buf, size_t n) {
#ifdef MQTTC_WITH_OPENSSL
    if (RAND_bytes(buf, (int)n) == 1) return MQTTC_OK;
#endif
    int fd = open("/dev/urandom", O_RDONLY);
    size_t got = 0;
    while (fd >= 0 && got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r > 0) got += (size_t)r;
        else if (r < 0 && errno == EINTR) continue;
        else break;
    }
    if (fd >= 0) close(fd);
    return got == n ? MQTTC_OK : MQTTC_ERR_IO;
}

static void mqttc__ws_mask(mqttc__ws_conn *s, unsigned char mask[4]) {
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    uint64_t v = s->rng * 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < 4; i++) mask[i] = (unsigned char)(v >> (32 + 8 * i));
}

/* A whole client frame at out: FIN, the opcode, the length in its shortest form, a fresh
   mask [RFC 6455 5.3], then data[0..len) masked. Its size. */
static size_t mqttc__ws_frame(mqttc__ws_conn *s, unsigned char *out, int opcode, const unsigned char *data, size_t len) {
    unsigned char mask[8];
    size_t n = 2, i = 0;
    out[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        out[1] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        out[1] = 0x80 | 126;
        mqttc__put16(out + 2, (unsigned)len);
        n = 4;
    } else {
        out[1] = 0x80 | 127;
        for (int j = 0; j < 8; j++) out[2 + j] = (unsigned char)((uint64_t)len >> (56 - 8 * j));
        n = 10;
    }
    mqttc__ws_mask(s, mask);
    memcpy(mask + 4, mask, 4);
    memcpy(out + n, mask, 4);
    n += 4;
    uint64_t m8, w;
    memcpy(&m8, mask, 8);
    for (; i + 8 <= len; i += 8) { /* eight bytes at a time: the mask repeats every four */
        memcpy(&w, data + i, 8);
        w ^= m8;
        memcpy(out + n + i, &w, 8);
    }
    for (; i < len; i++) out[n + i] = data[i] ^ mask[i & 3];
    return n + len;
}

/* The upgrade request (RFC 6455 4.1) with a random key; the accept value it asks for is
   kept. Host is the broker's name (with the port when it is not the scheme's). */
static int mqttc__ws_prepare(mqttc__ws_conn *s, const char *host, int port, int secure, const char *path,
                             const char *headers) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char rnd[24], digest[20];
    char key[32], hostport[300];
    unsigned char both[24 + sizeof guid];
    if (mqttc__random(rnd, sizeof rnd) != MQTTC_OK) return MQTTC_ERR_IO;
    memcpy(&s->rng, rnd + 16, 8);
    s->rng |= 1u; /* xorshift never leaves 0 */
    mqttc__base64(rnd, 16, key); /* 24 characters */
    memcpy(both, key, 24);
    memcpy(both + 24, guid, sizeof guid - 1);
    mqttc__sha1(both, 24 + sizeof guid - 1, digest);
    mqttc__base64(digest, sizeof digest, s->accept);
    if (!mqttc__is_token_text(path) || !mqttc__is_token_text(host)) return MQTTC_ERR_ARG; /* no header injection */
    const char *l = strchr(host, ':') ? "[" : "", *r = *l ? "]" : "";
    if (port <= 0 || port == (secure ? 443 : 80)) snprintf(hostport, sizeof hostport, "%s%s%s", l, host, r);
    else snprintf(hostport, sizeof hostport, "%s%s%s:%d", l, host, r, port);
    static const char form[] = "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n%s\r\n";
    int n = snprintf(NULL, 0, form, path, hostport, key, headers ? headers : "");
    if (n < 0 || (size_t)n >= MQTTC__HTTP_MAX) return MQTTC_ERR_ARG;
    s->out_cap = (size_t)n + 1 > 4096 + 14 ? (size_t)n + 1 : 4096 + 14;
    s->out = (unsigned char *)MQTTC_MALLOC(s->out_cap);
    if (!s->out) return MQTTC_ERR_NOMEM;
    snprintf((char *)s->out, s->out_cap, form, path, hostport, key, headers ? headers : "");
    s->out_len = (size_t)n;
    return MQTTC_OK;
}

/* 1 when the comma-separated list holds the token, case aside (Connection: keep-alive, Upgrade). */
static int mqttc__has_token(const char *list, const char *token) {
    size_t n = strlen(token);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        size_t len = strcspn(p, ",");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if (len == n && mqttc__same_word(p, token, n)) return 1;
        p += strcspn(p, ",");
    }
    return 0;
}

/* One header line of the answer, judged (RFC 6455 4.1, the client's checks 1 to 6). */
static void mqttc__ws_header_line(mqttc__ws_conn *s, char *line) {
    char *v;
    if ((v = mqttc__http_header(line, "upgrade")) != NULL && strlen(v) == 9 && mqttc__same_word(v, "websocket", 9))
        s->seen |= MQTTC__WS_HAS_UPGRADE;
    else if ((v = mqttc__http_header(line, "connection")) != NULL && mqttc__has_token(v, "upgrade"))
        s->seen |= MQTTC__WS_HAS_CONNECTION;
    else if ((v = mqttc__http_header(line, "sec-websocket-accept")) != NULL)
        s->seen |= strcmp(v, s->accept) == 0 ? MQTTC__WS_HAS_ACCEPT : MQTTC__WS_BAD_ACCEPT;
    else if ((v = mqttc__http_header(line, "sec-websocket-protocol")) != NULL && strcmp(v, "mqtt") == 0)
        s->seen |= MQTTC__WS_HAS_MQTT;
    else if (mqttc__http_header(line, "sec-websocket-extensions") != NULL)
        s->seen |= MQTTC__WS_HAS_EXTENSION; /* we offered none */
}

/* The whole answer is in: what it lacks, or MQTTC_OK. */
static int mqttc__ws_verdict(mqttc_transport *t, mqttc__ws_conn *s) {
    const char *why = NULL;
    if ((s->seen & (MQTTC__WS_HAS_ACCEPT | MQTTC__WS_BAD_ACCEPT)) != MQTTC__WS_HAS_ACCEPT)
        why = "websocket: missing or wrong Sec-WebSocket-Accept";
    else if (!(s->seen & MQTTC__WS_HAS_UPGRADE) || !(s->seen & MQTTC__WS_HAS_CONNECTION))
        why = "websocket: no Upgrade: websocket and Connection: Upgrade";
    else if (!(s->seen & MQTTC__WS_HAS_MQTT))
        why = "websocket: the server did not select subprotocol mqtt"; /* [MQTT-6.0.0-4] */
    else if (s->seen & MQTTC__WS_HAS_EXTENSION)
        why = "websocket: the server chose an extension we did not offer";
    if (why) return mqttc__stage_says(t, MQTTC_ERR_WSHANDSHAKE, why, 0);
    s->phase = MQTTC__WS_OPEN;
    s->out_len = s->out_pos = 0;
    t->want = 0;
    return MQTTC_OK;
}

static int mqttc__ws_answer(mqttc_transport *t, mqttc__ws_conn *s) {
    int rc;
    while ((rc = mqttc__http_line(t, &s->inner, &s->http)) == MQTTC_OK) {
        if (s->http.status == 0) {
            s->http.status = mqttc__http_status(s->http.line);
            if (s->http.status != 101)
                return mqttc__stage_says(t, MQTTC_ERR_WSHANDSHAKE, "websocket: the server did not switch protocols (101)",
                                         s->http.status > 0 ? s->http.status : 0);
        } else if (!s->http.line[0]) {
            return mqttc__ws_verdict(t, s);
        } else {
            mqttc__ws_header_line(s, s->http.line);
        }
    }
    if (rc == MQTTC_ERR_CLOSED) return mqttc__stage_says(t, MQTTC_ERR_WSHANDSHAKE, "websocket: closed during the upgrade", 0);
    if (rc == MQTTC_ERR_OVERFLOW) return mqttc__stage_says(t, MQTTC_ERR_WSHANDSHAKE, "websocket: the answer is too long", 0);
    if (rc == MQTTC_ERR_MALFORMED) return mqttc__stage_says(t, MQTTC_ERR_WSHANDSHAKE, "websocket: not an HTTP answer", 0);
    return rc;
}

/* The stages below first, then the request, then the answer. */
static int mqttc__ws_handshake(mqttc_transport *t) {
    mqttc__ws_conn *s = (mqttc__ws_conn *)t->ctx;
    int rc = mqttc__inner_handshake(t, &s->inner, &s->inner_ready);
    if (rc == MQTTC_OK && s->phase == MQTTC__WS_UPGRADE) {
        rc = mqttc__stage_write(t, &s->inner, s->out, s->out_len, &s->out_pos);
        if (rc == MQTTC_OK) s->phase = MQTTC__WS_ANSWER;
    }
    return rc == MQTTC_OK ? mqttc__ws_answer(t, s) : rc;
}

/* Writes what waits: a control frame first, then the rest of a data frame. MQTTC_OK when
   nothing waits any more, MQTTC_MORE, or the error. */
static int mqttc__ws_flush(mqttc_transport *t, mqttc__ws_conn *s) {
    int rc = MQTTC_OK;
    if (s->out_pos > 0) /* a data frame begun is finished first: frames never interleave */
        rc = mqttc__stage_write(t, &s->inner, s->out, s->out_len, &s->out_pos);
    if (rc == MQTTC_OK) rc = mqttc__stage_write(t, &s->inner, s->ctl_out, s->ctl_out_len, &s->ctl_out_pos);
    if (rc == MQTTC_OK) {
        s->ctl_out_len = s->ctl_out_pos = 0;
        rc = mqttc__stage_write(t, &s->inner, s->out, s->out_len, &s->out_pos);
    }
    if (rc < 0) s->is_broken = 1;
    return rc;
}

/* Room for a frame of `want` payload bytes: the buffer doubles toward MQTTC_WS_FRAME (a bulk
   sender's writes become one frame each); when it cannot grow, frames stay smaller. */
static size_t mqttc__ws_room(mqttc__ws_conn *s, size_t want) {
    size_t max = (size_t)MQTTC_WS_FRAME + 14;
    if (want + 14 > s->out_cap && s->out_cap < max) {
        size_t cap = s->out_cap * 2 > want + 14 ? s->out_cap * 2 : want + 14;
        cap = cap < max ? cap : max;
        unsigned char *p = (unsigned char *)MQTTC_REALLOC(s->out, cap);
        if (p) {
            s->out = p;
            s->out_cap = cap;
        }
    }
    return want + 14 <= s->out_cap ? want : s->out_cap - 14;
}

/* The caller's bytes go in frames of up to MQTTC_WS_FRAME. A frame's bytes are told as sent
   (*n) only once the whole frame is written: until then the caller offers them again, as
   with a partial TLS record, and the stage writes the rest of the frame. */
static int mqttc__ws_send(mqttc_transport *t, const unsigned char *buf, size_t len, size_t *n) {
    mqttc__ws_conn *s = (mqttc__ws_conn *)t->ctx;
    *n = 0;
    for (;;) {
        int rc = mqttc__ws_flush(t, s);
        if (rc == MQTTC_MORE) return MQTTC_OK;
        if (rc != MQTTC_OK) return rc;
        t->want = 0;
        if (s->out_taken > len) return MQTTC_ERR_ARG; /* not the bytes offered before */
        *n += s->out_taken;
        buf += s->out_taken;
        len -= s->out_taken;
        s->out_taken = 0;
        if (len == 0) return MQTTC_OK;
        size_t k = mqttc__ws_room(s, len < MQTTC_WS_FRAME ? len : MQTTC_WS_FRAME);
        s->out_len = mqttc__ws_frame(s, s->out, MQTTC__WS_BINARY, buf, k); /* [MQTT-6.0.0-1] */
        s->out_pos = 0;
        s->out_taken = k;
    }
}

/* A control frame's whole payload is in: PING is answered (PONG, the same payload), CLOSE
   too (its status echoed) and ends the input; PONG needs nothing. */
static void mqttc__ws_control(mqttc_transport *t, mqttc__ws_conn *s) {
    if (s->opcode == MQTTC__WS_CLOSE) {
        s->peer_closed = 1;
        s->ctl_len = s->ctl_len >= 2 ? 2 : 0;
    }
    if (s->opcode == MQTTC__WS_PONG) return;
    if (s->ctl_out_len && (s->ctl_out_pos || s->opcode == MQTTC__WS_PING)) return; /* one answer waits;
                                                           a PONG not begun gives way to CLOSE */
    s->ctl_out_len = mqttc__ws_frame(s, s->ctl_out, s->opcode == MQTTC__WS_PING ? MQTTC__WS_PONG : MQTTC__WS_CLOSE,
                                     s->ctl, s->ctl_len);
    s->ctl_out_pos = 0;
    t->want |= MQTTC_EV_WRITE;
}

/* A frame header is complete: judged (RFC 6455 5.2 to 5.5) before any of its payload is. */
static int mqttc__ws_header_done(mqttc_transport *t, mqttc__ws_conn *s) {
    int fin = s->hdr[0] & 0x80, op = s->hdr[0] & 0x0f, len7 = s->hdr[1] & 0x7f;
    const char *why = NULL;
    if (s->hdr[0] & 0x70) why = "websocket: a reserved bit is set";
    else if (s->hdr[1] & 0x80) why = "websocket: a masked frame from the server";
    else if (op == MQTTC__WS_TEXT) why = "websocket: a text frame"; /* [MQTT-6.0.0-1] */
    else if (op >= MQTTC__WS_CLOSE && (!fin || len7 > 125)) why = "websocket: a fragmented or long control frame";
    else if (op != MQTTC__WS_CONT && op != MQTTC__WS_BINARY && op < MQTTC__WS_CLOSE) why = "websocket: a reserved opcode";
    else if (op > MQTTC__WS_PONG) why = "websocket: a reserved opcode";
    else if (op == MQTTC__WS_CONT && !s->in_message) why = "websocket: a continuation with nothing to continue";
    else if (op == MQTTC__WS_BINARY && s->in_message) why = "websocket: a new message inside a fragmented one";
    if (why) return mqttc__stage_says(t, MQTTC_ERR_WEBSOCKET, why, 0);
    uint64_t len = (uint64_t)len7;
    if (len7 == 126) len = mqttc__get16(s->hdr + 2);
    if (len7 == 127) {
        len = 0;
        for (int j = 0; j < 8; j++) len = len << 8 | s->hdr[2 + j];
        if (len >> 63) return mqttc__stage_says(t, MQTTC_ERR_WEBSOCKET, "websocket: a length over 2^63", 0);
    }
    if (op < MQTTC__WS_CLOSE) s->in_message = !fin;
    s->opcode = op;
    s->left = len;
    s->in_payload = 1;
    s->ctl_len = 0;
    s->hdr_len = 0;
    return MQTTC_OK;
}

/* Takes frames out of buf[0..got) in place: the data frames' payload moves to the front.
   The payload's length, or an error (negative). */
static long mqttc__ws_unframe(mqttc_transport *t, mqttc__ws_conn *s, unsigned char *buf, size_t got) {
    size_t i = 0, w = 0;
    while (i < got && !s->peer_closed) {
        if (!s->in_payload) { /* the header: 2 bytes, then the extended length */
            s->hdr[s->hdr_len++] = buf[i++];
            size_t need = 2;
            if (s->hdr_len >= 2) need += (s->hdr[1] & 0x7f) == 126 ? 2u : (s->hdr[1] & 0x7f) == 127 ? 8u : 0u;
            if (s->hdr_len >= 2 && (s->hdr[1] & 0x80)) need += 4; /* (refused once complete) */
            if (s->hdr_len < need) continue;
            int rc = mqttc__ws_header_done(t, s);
            if (rc != MQTTC_OK) return rc;
        } else {
            size_t k = got - i < s->left ? got - i : (size_t)s->left;
            if (s->opcode < MQTTC__WS_CLOSE) {
                memmove(buf + w, buf + i, k);
                w += k;
            } else {
                memcpy(s->ctl + s->ctl_len, buf + i, k);
                s->ctl_len += k;
            }
            i += k;
            s->left -= k;
        }
        if (s->in_payload && s->left == 0) { /* the frame is over */
            s->in_payload = 0;
            if (s->opcode >= MQTTC__WS_CLOSE) mqttc__ws_control(t, s);
        }
    }
    return (long)w;
}

/* Reads until some MQTT bytes come out (a read of only headers or control frames reads on),
   answering control frames on the way. After the server's CLOSE: the data before it, then
   "closed". */
static int mqttc__ws_recv(mqttc_transport *t, unsigned char *buf, size_t cap, size_t *n) {
    mqttc__ws_conn *s = (mqttc__ws_conn *)t->ctx;
    int rc = MQTTC_OK;
    *n = 0;
    t->want = 0;
    if (s->ctl_out_len && (rc = mqttc__ws_flush(t, s)) < 0) return rc;
    while (*n == 0 && !s->peer_closed) {
        size_t got = 0;
        rc = s->inner.recv(&s->inner, buf, cap, &got);
        if (rc != MQTTC_OK) {
            s->is_broken = 1;
            return mqttc__stage_fail(t, &s->inner, rc);
        }
        if (got == 0) break;
        long w = mqttc__ws_unframe(t, s, buf, got);
        if (w < 0) return (int)w;
        *n = (size_t)w;
    }
    if (s->ctl_out_len && (rc = mqttc__ws_flush(t, s)) < 0) return rc;
    if (s->ctl_out_len) t->want |= MQTTC_EV_WRITE;
    t->has_buffered_input = s->inner.has_buffered_input;
    if (s->peer_closed && *n == 0) return mqttc__stage_says(t, MQTTC_ERR_CLOSED, "websocket: the server sent CLOSE", 0);
    return MQTTC_OK;
}

/* A CLOSE (1000, normal closure) when the WebSocket is open and the link still works, at
   a frame boundary; never waits. Then the stages below close. */
static void mqttc__ws_close(mqttc_transport *t) {
    mqttc__ws_conn *s = (mqttc__ws_conn *)t->ctx;
    if (!s) return;
    if (s->phase == MQTTC__WS_OPEN && !s->is_broken && !s->peer_closed && s->ctl_out_len == 0 &&
        s->out_pos == s->out_len) {
        static const unsigned char normal[2] = {0x03, 0xE8};
        s->ctl_out_len = mqttc__ws_frame(s, s->ctl_out, MQTTC__WS_CLOSE, normal, 2);
        (void)mqttc__ws_flush(t, s);
    }
    if (s->inner.close) s->inner.close(&s->inner);
    MQTTC_FREE(s->out);
    MQTTC_FREE(s);
    t->ctx = NULL;
    t->fd = -1;
    t->want = 0;
    t->has_buffered_input = 0;
}

/* The WebSocket stage over *t, to host:port on path. On failure *t is untouched. */
static int mqttc__ws_stage(const char *host, int port, int secure, const char *path, const char *headers,
                           mqttc_transport *t) {
    mqttc__ws_conn *s = (mqttc__ws_conn *)MQTTC_MALLOC(sizeof *s);
    if (!s) return MQTTC_ERR_NOMEM;
    memset(s, 0, sizeof *s);
    int rc = mqttc__ws_prepare(s, host ? host : "localhost", port, secure, path, headers);
    if (rc != MQTTC_OK) {
        if (s->out) MQTTC_FREE(s->out);
        MQTTC_FREE(s);
        return rc;
    }
    s->inner = *t;
    s->inner_ready = !t->handshake;
    static const mqttc_transport calls = {mqttc__ws_send, mqttc__ws_recv, mqttc__ws_handshake, mqttc__ws_close,
                                          -1, 0, NULL, {NULL, NULL}, 0, NULL, 0};
    mqttc__stage_over(t, &s->inner, &calls, s);
    return MQTTC_OK;
}
#endif /* MQTTC_NO_WEBSOCKET */

/* >>chain ------------------------------------------------------------------------------- */
/* Which stages, in which order (top comment, section 8). */

/* Wraps the bottom stage *t (TCP to the next hop, an adopted socket, or a transport the
   caller gave) in the stages above it: the proxy's when TCP went to one, TLS, WebSocket.
   MQTTC_ERR_ARG with *bad naming the option at fault. On failure *t is the stages made so
   far (the caller closes it). */
static int mqttc__chain(mqttc__stages *st, const mqttc_options *o, const mqttc__endpoint *ep, mqttc_transport *t,
                        const char **bad) {
    int rc = MQTTC_OK;
    *bad = NULL;
#if !defined(MQTTC_NO_SOCKETS) && !defined(MQTTC_NO_PROXY)
    mqttc__url px; /* a dial (the broker named) went to the proxy: mqttc__open_hop */
    if (o->proxy && ep->host && mqttc__proxy_parse(o->proxy, &px) == MQTTC_OK &&
        (rc = mqttc__proxy_stage(&px, ep->host, ep->port, t)) != MQTTC_OK) {
        if (rc == MQTTC_ERR_ARG) *bad = "options.proxy";
        return rc;
    }
#endif
    if (ep->secure) rc = mqttc__tls_stage(st, o, ep, t, bad);
#ifdef MQTTC_WITH_OPENSSL
    else if ((*bad = mqttc__tls_field_set(o)) != NULL) rc = MQTTC_ERR_ARG; /* never plain text by mistake */
#endif
#if !defined(MQTTC_NO_SOCKETS) && !defined(MQTTC_NO_WEBSOCKET)
    if (rc == MQTTC_OK && ep->ws_path &&
        (rc = mqttc__ws_stage(ep->host, ep->port, ep->secure, ep->ws_path, o->ws_headers, t)) == MQTTC_ERR_ARG)
        *bad = o->ws_headers ? "options.ws_headers" : "options.ws_path";
#endif
    return rc;
}

static void mqttc__chain_free(mqttc__stages *st) { mqttc__tls_free(st); }

/* The stages' options, checked at init: the bad field's name, or NULL. */
static const char *mqttc__chain_options_bad(const mqttc_options *o) {
    const char *bad = mqttc__tls_options_bad(o);
#if !defined(MQTTC_NO_SOCKETS) && !defined(MQTTC_NO_PROXY)
    mqttc__url px;
    if (!bad && o->proxy && mqttc__proxy_parse(o->proxy, &px) != MQTTC_OK) bad = "options.proxy";
#else
    if (!bad && o->proxy) bad = "options.proxy"; /* built without proxies */
#endif
#if defined(MQTTC_NO_SOCKETS) || defined(MQTTC_NO_WEBSOCKET)
    if (!bad && (o->ws_path || o->ws_headers)) bad = o->ws_path ? "options.ws_path" : "options.ws_headers";
#else
    if (!bad && o->ws_headers && (strlen(o->ws_headers) < 2 || strcmp(o->ws_headers + strlen(o->ws_headers) - 2, "\r\n")))
        bad = "options.ws_headers"; /* each line ends in CR LF */
    if (!bad && o->ws_path && (o->ws_path[0] != '/' || strchr(o->ws_path, '#')))
        bad = "options.ws_path"; /* a request path: "/...", no fragment (RFC 6455 3) */
#endif
    return bad;
}

/* >>client -------------------------------------------------------------------------------- */

MQTTC_DEF const char *mqttc_errname(int err) {
    switch (err) {
#define MQTTC__NAME(name, value, shortname, text) case value: return shortname;
        MQTTC_ERRORS(MQTTC__NAME)
#undef MQTTC__NAME
    case MQTTC_MORE: return "more";
    default: return "unknown";
    }
}

MQTTC_DEF const char *mqttc_strerror(int err) {
    switch (err) {
#define MQTTC__TEXT(name, value, shortname, text) case value: return text;
        MQTTC_ERRORS(MQTTC__TEXT)
#undef MQTTC__TEXT
    case MQTTC_MORE: return "more bytes or steps needed";
    default: return "unknown error";
    }
}

static void mqttc__lock(mqttc_client *c) {
    if (c->opt.lock) c->opt.lock(c->opt.lock_user);
}
static void mqttc__unlock(mqttc_client *c) {
    if (c->opt.unlock) c->opt.unlock(c->opt.lock_user);
}

static int mqttc__is_open(const mqttc_client *c) {
    return c->state > MQTTC_STATE_IDLE && c->state < MQTTC_STATE_CLOSED;
}

/* MQTTC_ERR_ARG, remembering which argument it was about (mqttc_bad_arg). */
static int mqttc__bad(mqttc_client *c, const char *name) {
    c->bad_arg = name;
    return MQTTC_ERR_ARG;
}

/* The transitions the lifecycle allows (the diagram in the top comment, section 3), a bit
   per target state: forward only, and a new connection from IDLE or CLOSED (which may also
   fail at once: CLOSED again, with the new error). */
#define MQTTC__TO(s) (1u << MQTTC_STATE_##s)
static const unsigned mqttc__transitions[] = {
    /* IDLE */          MQTTC__TO(HANDSHAKE) | MQTTC__TO(CONNACK_WAIT) | MQTTC__TO(CLOSED),
    /* HANDSHAKE */     MQTTC__TO(CONNACK_WAIT) | MQTTC__TO(CLOSED),
    /* CONNACK_WAIT */  MQTTC__TO(CONNECTED) | MQTTC__TO(CLOSED),
    /* CONNECTED */     MQTTC__TO(DRAINING) | MQTTC__TO(DISCONNECTING) | MQTTC__TO(CLOSED),
    /* DRAINING */      MQTTC__TO(DISCONNECTING) | MQTTC__TO(CLOSED),
    /* DISCONNECTING */ MQTTC__TO(CLOSED),
    /* CLOSED */        MQTTC__TO(HANDSHAKE) | MQTTC__TO(CONNACK_WAIT) | MQTTC__TO(CLOSED) | MQTTC__TO(WAITING),
    /* WAITING */       MQTTC__TO(HANDSHAKE) | MQTTC__TO(CONNACK_WAIT) | MQTTC__TO(CLOSED),
};
#undef MQTTC__TO

/* The one place the state changes. A transition the table does not allow is a bug here. */
static void mqttc__set_state(mqttc_client *c, int next) {
    MQTTC_ASSERT(mqttc__transitions[c->state] & (1u << next));
    c->state = next;
}

/* The protocol the client speaks, for the codec (a constant under MQTTC_NO_MQTT5, so the
   codec's MQTT 5 branches fold away), and whether it is MQTT 5. */
#define mqttc__version(c) (MQTTC__HAS_V5 ? (c)->opt.protocol_version : MQTTC_PROTOCOL_311)
#define MQTTC__V5(c) mqttc__is_v5(mqttc__version(c))

/* An event for options.on_status, told at the end of the public call it happened in
   (mqttc__tell_status), never from the middle of the client's own work; a loss's plan
   (section 12) goes into effect there too. */
static void mqttc__status_due(mqttc_client *c, int event) { c->status_due = event; }

/* MQTTC_NO_RECONNECT leaves staying connected out (the small build). */
#ifdef MQTTC_NO_RECONNECT
#define MQTTC__HAS_RECONNECT 0
#else
#define MQTTC__HAS_RECONNECT 1
#endif
#define MQTTC__MAX_FLAPS 10u /* links accepted and lost again quickly, in a row, before giving up */

/* Whether dialling again can help after err (section 12): not for what only the user can
   change (credentials, trust, a refusal for the client's own reasons) nor when the broker
   said to stop (taken over, administrative action, another server). */
static int mqttc__may_retry(const mqttc_client *c, int err) {
    int rc = c->reason_code;
    switch (err) {
    case MQTTC_ERR_DISCONNECT: case MQTTC_ERR_CERT: case MQTTC_ERR_CN: case MQTTC_ERR_AUTH: case MQTTC_ERR_PROXYAUTH:
        return 0;
    case MQTTC_ERR_REFUSED: /* server unavailable or busy, quota, connection rate: later */
        return MQTTC__V5(c) ? rc == 0x88 || rc == 0x89 || rc == 0x97 || rc == 0x9F : rc == 3;
    case MQTTC_ERR_SERVER_DISCONNECT: return rc != 0x8E && rc != 0x98 && rc != 0x9C && rc != 0x9D;
    default: return 1;
    }
}

/* Attempt n waits d = min(max, min * 2^n), jittered in [d/2, d] (xorshift32): it always
   grows, and a fleet that lost one broker does not come back at one instant. */
static long mqttc__backoff(mqttc_client *c) {
    uint64_t d = c->opt.reconnect_min_ms;
    for (unsigned i = 0; i < c->attempt && d < c->opt.reconnect_max_ms; i++) d *= 2;
    if (d > c->opt.reconnect_max_ms) d = c->opt.reconnect_max_ms;
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 17;
    c->rng ^= c->rng << 5;
    c->attempt++;
    return (long)(d / 2 + c->rng % (d - d / 2 + 1));
}

/* After a loss: dial again after how many ms, or -1. A first connect is retried only with
   reconnect_first; links that keep being accepted and lost again stop after
   MQTTC__MAX_FLAPS (two clients with one id knocking each other off). */
static long mqttc__plan(mqttc_client *c, int err, int was_up) {
    if (!MQTTC__HAS_RECONNECT || !c->opt.reconnect_min_ms || !c->dial || !mqttc__may_retry(c, err)) return -1;
    if (!c->was_up && !c->opt.reconnect_first) return -1;
    if (was_up && ++c->flaps >= MQTTC__MAX_FLAPS) return -1;
    return mqttc__backoff(c);
}

/* The end of a connection: the first error sticks, the transport is closed, buffered output
   is dropped. In-flight records stay for a reconnect [MQTT-4.4.0-1]. */
static int mqttc__fail(mqttc_client *c, int err) {
    if (c->state == MQTTC_STATE_CLOSED && c->error) return c->error; /* (error 0: a new start) */
    int was_up = c->state >= MQTTC_STATE_CONNECTED && c->state < MQTTC_STATE_CLOSED;
    int was_ending = c->state == MQTTC_STATE_DRAINING || c->state == MQTTC_STATE_DISCONNECTING; /* the user's */
    c->error = err;
    if (err == MQTTC_ERR_IO || err == MQTTC_ERR_CANNOTCONNECT) c->sys_errno = mqttc__last_errno();
#ifdef MQTTC__HAS_STAGES
    c->detail = c->tr.detail; /* a stage's own word; a proxy's reply code goes where the broker's would */
    if (c->tr.detail_code) c->reason_code = c->tr.detail_code;
#endif
    if (c->tr.close) c->tr.close(&c->tr);
    c->tr.close = NULL; /* closed once: never again */
    c->tr.fd = -1;
    c->tx.start = c->tx.len = 0;
    c->rx.start = c->rx.len = 0;
    c->ping_outstanding = c->rx_pending = 0;
    mqttc__set_state(c, MQTTC_STATE_CLOSED);
    c->retry_ms = was_ending ? -1 : mqttc__plan(c, err, was_up); /* mqttc_disconnect is final */
    mqttc__status_due(c, was_up ? MQTTC_EVENT_CONNECTION_LOST : MQTTC_EVENT_CONNECT_FAILED);
    return err;
}

/* Outside any callback, at the end of a public call: the status event, if one is due.
   Marked as a dispatch, so the callback may call anything but step and run. */
static void mqttc__tell_status(mqttc_client *c) {
    int event = c->status_due, is_up = event == MQTTC_EVENT_CONNECTED;
    if (!event || c->in_dispatch) return;
    c->status_due = 0;
    if (c->opt.on_status) {
        mqttc_status st = {event, is_up ? MQTTC_OK : c->error, c->reason_code, is_up && c->session_present,
                           {NULL, 0, NULL, 0}, is_up ? -1 : c->retry_ms, c->attempt};
        int kept = c->error == MQTTC_ERR_SERVER_DISCONNECT && !is_up ? MQTTC__DISCONNECT_PROPS : MQTTC__CONNACK_PROPS;
        mqttc__rec *r = MQTTC__V5(c) ? mqttc__rec_find(&c->peer, kept, 0) : NULL;
        if (r) { /* MQTT 5: that packet's properties, kept in the peer pool */
            st.props.ptr = mqttc__rec_data(r);
            st.props.len = r->data_len;
        }
        c->in_dispatch++;
        c->opt.on_status(c, &st, c->opt.user);
        c->in_dispatch--;
    }
    if (MQTTC__HAS_RECONNECT && c->state == MQTTC_STATE_CLOSED && c->retry_ms >= 0) { /* the plan: wait, dial */
        mqttc__set_state(c, MQTTC_STATE_WAITING);
        c->retry_at_ms = c->now_ms + (uint64_t)c->retry_ms;
    }
}

/* The blocking layer's wake-up (its hook), when another thread's call queued output. */
static void mqttc__wake(mqttc_client *c) {
    if (c->wake) c->wake(c, 0);
}

/* ---- the output path: queue, then write through when idle ---- */

/* Room for n more bytes of output, or NULL (rc set). is_control: acks and pings may grow the
   buffer past max_output; publishes may not. */
static unsigned char *mqttc__tx_space(mqttc_client *c, size_t n, int is_control, int *rc) {
    if (!is_control && c->tx.len && c->tx.len + n > c->opt.max_output) { *rc = MQTTC_ERR_BUSY; return NULL; }
    *rc = mqttc__buf_reserve(&c->tx, n);
    if (*rc == MQTTC_ERR_NOSPACE) *rc = is_control ? MQTTC_ERR_OVERFLOW : MQTTC_ERR_BUSY;
    return *rc == MQTTC_OK ? c->tx.p + c->tx.start + c->tx.len : NULL;
}

/* Writes until the transport would block. A fatal transport error ends the connection. */
static int mqttc__flush(mqttc_client *c) {
    while (c->tx.len && mqttc__is_open(c) && c->state != MQTTC_STATE_HANDSHAKE) {
        size_t n = 0;
        int rc = c->tr.send(&c->tr, c->tx.p + c->tx.start, c->tx.len, &n);
        if (rc != MQTTC_OK) return mqttc__fail(c, rc);
        if (n == 0) break;
        mqttc__buf_consume(&c->tx, n);
        c->last_tx_ms = c->now_ms;
    }
    return c->state == MQTTC_STATE_CLOSED ? c->error : MQTTC_OK;
}

/* Shows the packet of n bytes just queued at the end of the output to options.on_trace:
   `known` when the sender describes it (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ: the
   packets the client's own decoder refuses), else decoded. */
static void mqttc__trace_sent(mqttc_client *c, size_t n, const mqttc_packet *known) {
    mqttc_packet p;
    size_t used;
    if (!c->opt.on_trace) return;
    if (known) c->opt.on_trace(c, 1, known, c->opt.user);
    else if (mqttc__decode_broker_packet(c->tx.p + c->tx.start + c->tx.len - n, n, 0, mqttc__version(c), &p, &used) == MQTTC_OK)
        c->opt.on_trace(c, 1, &p, c->opt.user);
}

/* After queueing n bytes: write through when the socket was idle (nothing was waiting), so
   a lone publish leaves at once; when busy, corked or inside dispatch, coalesce. */
static int mqttc__queued_as(mqttc_client *c, size_t n, const mqttc_packet *known) {
    int was_idle = c->tx.len == 0;
    c->tx.len += (uint32_t)n; /* reserved by mqttc__tx_space */
    mqttc__trace_sent(c, n, known);
    if (was_idle && !c->is_corked && !c->in_dispatch) {
        int rc = mqttc__flush(c);
        if (rc != MQTTC_OK) return rc;
    }
    if (c->tx.len || c->state == MQTTC_STATE_DISCONNECTING) mqttc__wake(c);
    return MQTTC_OK;
}

static int mqttc__queued(mqttc_client *c, size_t n) { return mqttc__queued_as(c, n, NULL); }

/* A packet for the trace, of this type, the rest empty (the sender fills its info). */
static mqttc_packet *mqttc__trace_packet(const mqttc_client *c, mqttc_packet *p, int type) {
    if (!c->opt.on_trace) return NULL;
    memset(p, 0, sizeof *p);
    p->type = type;
    p->flags = mqttc__required_flags(type);
    return p;
}

/* The small control packets (acks, pings, DISCONNECT): at most 4 bytes in 3.1.1, 5 with an
   MQTT 5 reason code (never properties: [MQTT-3.4.2-2] and its kin then hold trivially).
   Control packets may pass max_output; only memory stops them. */
#define MQTTC__CONTROL_MAX 5u
static int mqttc__send_reason(mqttc_client *c, int type, unsigned short id, int reason) {
    mqttc_ack_info ack;
    size_t n = 0;
    int rc;
    unsigned char *p = mqttc__tx_space(c, MQTTC__CONTROL_MAX, 1, &rc);
    if (!p) return mqttc__fail(c, rc);
    memset(&ack, 0, sizeof ack);
    ack.type = type;
    ack.packet_id = id;
    ack.reason_code = reason;
    mqttc_packet ping;
    if (type == MQTTC_PINGREQ) rc = mqttc__encode_empty(p, MQTTC__CONTROL_MAX, type, &n);
    else if (type == MQTTC_DISCONNECT)
        rc = mqttc__encode_reason_only(p, MQTTC__CONTROL_MAX, mqttc__version(c), type, reason, &ack.props, &n);
    else rc = mqttc_encode_ack(p, MQTTC__CONTROL_MAX, mqttc__version(c), &ack, &n);
    MQTTC_ASSERT(rc == MQTTC_OK);
    return mqttc__queued_as(c, n, type == MQTTC_PINGREQ ? mqttc__trace_packet(c, &ping, type) : NULL);
}

static int mqttc__send_control(mqttc_client *c, int type, unsigned short id) {
    return mqttc__send_reason(c, type, id, 0);
}

/* The broker broke the protocol: in MQTT 5 it is told why with DISCONNECT and a reason
   code (0x81 malformed, 0x82 protocol error, 0x93, 0x94, 0x95 ...) [MQTT-4.13.1], written
   as far as the socket takes it now; then the connection ends with err. */
static int mqttc__violation(mqttc_client *c, int err, int reason) {
    if (MQTTC__V5(c) && c->state >= MQTTC_STATE_CONNACK_WAIT && c->state < MQTTC_STATE_DISCONNECTING &&
        mqttc__send_reason(c, MQTTC_DISCONNECT, 0, reason) == MQTTC_OK)
        (void)mqttc__flush(c);
    return mqttc__fail(c, err);
}

/* ---- connecting ---- */

/* The Assigned Client Identifier the broker gave (MQTT 5), or NULL. */
static const char *mqttc__assigned_id(const mqttc_client *c) {
    mqttc__rec *r = mqttc__rec_find((mqttc__buf *)(uintptr_t)&c->peer, MQTTC__ASSIGNED_ID, 0);
    return r ? (const char *)mqttc__rec_data(r) : NULL;
}

static void mqttc__connect_info(const mqttc_client *c, mqttc_connect_info *ci) {
    const mqttc_options *o = &c->opt;
    const char *id = MQTTC__V5(c) ? mqttc__assigned_id(c) : NULL;
    memset(ci, 0, sizeof *ci);
    ci->client_id.ptr = id ? id : o->client_id;
    ci->client_id.len = strlen(ci->client_id.ptr);
    ci->clean_session = !o->no_clean_session;
    ci->keepalive_s = o->keepalive_s;
    if (o->will_topic) {
        ci->will_topic.ptr = o->will_topic;
        ci->will_topic.len = strlen(o->will_topic);
        ci->will_payload.ptr = o->will_payload ? (const char *)o->will_payload : "";
        ci->will_payload.len = o->will_payload_len;
        ci->will_qos = o->will_qos;
        ci->will_retain = o->will_retain;
    }
    if (o->username) {
        ci->username.ptr = o->username;
        ci->username.len = strlen(o->username);
    }
    if (o->password) {
        ci->password.ptr = (const char *)o->password;
        ci->password.len = o->password_len;
    }
    if (c->login) c->login(c, ci);
    if (MQTTC__V5(c)) ci->will_props = o->will_props;
}

/* Appends one integer property to raw bytes (the client's own CONNECT properties). */
static unsigned char *mqttc__put_int_prop(unsigned char *p, int id, uint32_t value) {
    mqttc_prop pr;
    memset(&pr, 0, sizeof pr);
    pr.id = id;
    pr.value = value;
    return mqttc__put_prop(p, &pr);
}

/* MQTT 5 CONNECT properties: the client's own from the options (Session Expiry, Receive
   Maximum, Maximum Packet Size, Topic Alias Maximum, each only when it differs from the
   spec's default), then the application's connect_props: the raw bytes of both together in
   a scratch record of the peer pool (a connect, not a message: no per-message cost). */
static int mqttc__connect_props(mqttc_client *c, mqttc_props *out) {
    const mqttc_options *o = &c->opt;
    unsigned char own[32], *p = own;
    if (o->session_expiry_s) p = mqttc__put_int_prop(p, MQTTC_PROP_SESSION_EXPIRY, o->session_expiry_s);
    if (o->max_inflight_in < 65535u) p = mqttc__put_int_prop(p, MQTTC_PROP_RECEIVE_MAX, o->max_inflight_in);
    p = mqttc__put_int_prop(p, MQTTC_PROP_MAX_PACKET_SIZE, (uint32_t)o->max_packet_size);
    if (o->topic_alias_in) p = mqttc__put_int_prop(p, MQTTC_PROP_TOPIC_ALIAS_MAX, o->topic_alias_in);
    size_t own_len = (size_t)(p - own);
    mqttc__rec_drop(&c->peer, 1u << MQTTC__SCRATCH);
    mqttc__rec *r = mqttc__rec_add(&c->peer, MQTTC__SCRATCH, 0, own_len + o->connect_props.len);
    if (!r) return MQTTC_ERR_NOMEM;
    memcpy(mqttc__rec_data(r), own, own_len);
    if (o->connect_props.len) memcpy(mqttc__rec_data(r) + own_len, o->connect_props.ptr, o->connect_props.len);
    *out = o->connect_props;
    out->ptr = mqttc__rec_data(r);
    out->len = r->data_len;
    return MQTTC_OK;
}

/* CONNECT is the first packet on the connection [MQTT-3.1.0-1]. */
static int mqttc__send_connect(mqttc_client *c) {
    mqttc_connect_info ci;
    mqttc_props props;
    size_t n;
    int rc = MQTTC_OK, v = mqttc__version(c);
    if (MQTTC__V5(c) && (rc = mqttc__connect_props(c, &props)) != MQTTC_OK) /* first: it may move */
        return mqttc__fail(c, rc);                                           /* the peer pool */
    mqttc__connect_info(c, &ci);
    if (MQTTC__V5(c)) ci.props = props;
    mqttc_encode_connect(NULL, 0, v, &ci, &n);
    unsigned char *p = mqttc__tx_space(c, n, 1, &rc);
    if (p) rc = mqttc_encode_connect(p, n, v, &ci, &n);
    if (!p || rc != MQTTC_OK) return mqttc__fail(c, p ? rc : MQTTC_ERR_NOMEM);
    mqttc__set_state(c, MQTTC_STATE_CONNACK_WAIT);
    mqttc_packet traced, *t = mqttc__trace_packet(c, &traced, MQTTC_CONNECT);
    if (t) {
        static const mqttc_str name = {"MQTT", 4};
        t->connect = ci;
        t->connect.protocol_name = name;
        t->connect.protocol_level = MQTTC__V5(c) ? MQTTC_PROTOCOL_5 : MQTTC_PROTOCOL_311;
    }
    rc = mqttc__queued_as(c, n, t);
    if (MQTTC__V5(c)) mqttc__rec_drop(&c->peer, 1u << MQTTC__SCRATCH);
    return rc;
}

/* Buffers are allocated on first use. A client given options.mem carved them in init. */
static int mqttc__buffers(mqttc_client *c) {
    if (c->rx.is_fixed) return MQTTC_OK;
    size_t rx_first = c->rx.max < 16 ? c->rx.max : 16; /* CONNACK, SUBACK: grows with use (rx_room) */
    if (mqttc__buf_reserve(&c->rx, rx_first) != MQTTC_OK || mqttc__buf_reserve(&c->tx, 64) != MQTTC_OK)
        return MQTTC_ERR_NOMEM;
    return MQTTC_OK;
}

/* The spec's defaults until a CONNACK says otherwise [MQTT-3.2.2.3]; aliases and what the
   broker said die with the connection [MQTT-3.3.2-7] (an assigned id is kept: it names
   the session on reconnects). */
static void mqttc__limits_reset(mqttc_client *c) {
    mqttc_limits *l = &c->limits;
    l->receive_max = 65535u;
    l->max_packet_size = 0;
    l->topic_alias_max = 0;
    l->max_qos = 2;
    l->retain_available = l->wildcard_available = l->sub_id_available = l->shared_available = 1;
    l->keepalive_s = c->opt.keepalive_s;
    l->session_expiry_s = c->opt.session_expiry_s;
    if (!MQTTC__V5(c)) return;
    mqttc__rec_drop(&c->peer, ~(1u << MQTTC__ASSIGNED_ID));
    c->aliases_out.start = c->aliases_out.len = 0;
}

/* Every connect path starts here: a new connection on an idle or closed client. */
static int mqttc__begin_connection(mqttc_client *c, uint64_t now_ms) {
    if (mqttc__is_open(c)) return MQTTC_ERR_STATE;
    c->error = MQTTC_OK; /* a new connection: its own first error will stick */
    c->reason_code = 0;
#ifdef MQTTC__HAS_STAGES
    c->detail = NULL;
#endif
    int rc = mqttc__buffers(c);
    if (rc != MQTTC_OK) return rc;
    c->now_ms = c->last_tx_ms = c->last_rx_ms = now_ms;
    c->connect_deadline_ms = now_ms + c->opt.connect_timeout_ms;
    c->ping_outstanding = 0;
    c->tx.start = c->tx.len = c->rx.start = c->rx.len = 0;
    /* answers to requests of an earlier connection will never come */
    mqttc__fl_drop(c, (1u << MQTTC__AWAIT_SUBACK) | (1u << MQTTC__AWAIT_UNSUBACK) |
                                      (1u << MQTTC__DISCONNECT_OUT));
    if (MQTTC__V5(c)) mqttc__limits_reset(c); /* in 3.1.1 they never change from init's */
    return MQTTC_OK;
}

/* ---- dispatch of incoming packets, in packet-type order ---- */

/* CONNACK: a refusal (return code 1..5) ends the connection with MQTTC_ERR_REFUSED, the
   code beside it as the reason [MQTT-3.2.2-5]. With a kept session, unacknowledged messages go again in their original order, with their ids
   and DUP set, and PUBREL for those already past PUBREC [MQTT-4.4.0-1], [MQTT-4.6.0-1]. */
/* The outgoing window: options.max_inflight, and in MQTT 5 at most the broker's Receive
   Maximum [MQTT-3.3.4-7]. */
static unsigned mqttc__window(const mqttc_client *c) {
    return MQTTC__V5(c) && c->limits.receive_max < c->opt.max_inflight ? c->limits.receive_max : c->opt.max_inflight;
}

/* ---- the durable store's calls (section 13); MQTTC_NO_STORE leaves them out ---- */
#ifdef MQTTC_NO_STORE
#define MQTTC__HAS_STORE 0
#else
#define MQTTC__HAS_STORE 1
#endif

/* put: MQTTC_OK, or MQTTC_ERR_STORE (and the step ends the connection). */
static int mqttc__store_put(mqttc_client *c, int kind, unsigned short id, const unsigned char *data, size_t len) {
    const mqttc_store *st = c->opt.store;
    mqttc_stored r;
    if (!MQTTC__HAS_STORE || !st) return MQTTC_OK;
    r.kind = kind;
    r.packet_id = id;
    r.data = data;
    r.len = len;
    if (st->put(st->ctx, &r) == MQTTC_OK) return MQTTC_OK;
    c->store_failed = 1;
    return MQTTC_ERR_STORE;
}

static int mqttc__store_remove(mqttc_client *c, int is_incoming, unsigned short id) {
    const mqttc_store *st = c->opt.store;
    if (!MQTTC__HAS_STORE || !st || st->remove(st->ctx, is_incoming, id) == MQTTC_OK) return MQTTC_OK;
    c->store_failed = 1;
    return MQTTC_ERR_STORE;
}

/* A record's PUBLISH into the store, marked written (DUP set in the stored copy) when it
   is about to be: after a crash, one never written goes as new even to a broker that lost
   the session, one written follows section 12's rules. */
static int mqttc__store_publish(mqttc_client *c, mqttc__rec *r, int is_written) {
    unsigned char *d = mqttc__rec_data(r), first = d[0];
    if (!MQTTC__HAS_STORE || !c->opt.store) return MQTTC_OK;
    if (is_written) d[0] |= 8u;
    int rc = mqttc__store_put(c, MQTTC_STORED_PUBLISH, r->packet_id, d, r->data_len);
    d[0] = first;
    return rc;
}

/* Writes the stored PUBLISH at off: DUP set when an earlier connection wrote it
   [MQTT-3.3.1-1]. A held one leaves the queue. */
static int mqttc__write_publish(mqttc_client *c, size_t off) {
    int rc;
    mqttc__rec *r = mqttc__rec_at(&c->inflight, off);
    unsigned char *p = mqttc__tx_space(c, r->data_len, 1, &rc);
    if (!p) return mqttc__fail(c, rc);
    r = mqttc__rec_at(&c->inflight, off); /* (the pools are apart: r did not move) */
    if (r->flags & MQTTC__WRITTEN) mqttc__rec_data(r)[0] |= 8u;
    else c->held_bytes -= r->data_len; /* first written: it leaves the queue's bound */
    if (!(r->flags & MQTTC__WRITTEN)) (void)mqttc__store_publish(c, r, 1); /* (a failure ends the step) */
    if (r->flags & MQTTC__HELD) c->held--;
    r->flags = MQTTC__WRITTEN;
    memcpy(p, mqttc__rec_data(r), r->data_len);
    c->tx.len += (uint32_t)r->data_len;
    mqttc__trace_sent(c, r->data_len, NULL);
    return MQTTC_OK;
}

/* A record leaves the held count and, never written, the queue's bytes. */
static void mqttc__unqueue(mqttc_client *c, const mqttc__rec *r) {
    if (r->flags & MQTTC__HELD) c->held--;
    if (!(r->flags & MQTTC__WRITTEN)) c->held_bytes -= r->data_len;
}

/* The end of a step: what the store buffered is made durable; a store call that failed
   during it ends the connection ("store"). rc: the step's result so far. */
static int mqttc__store_flush(mqttc_client *c, int rc) {
    const mqttc_store *st = c->opt.store;
    if (st->flush && st->flush(st->ctx) != MQTTC_OK) c->store_failed = 1;
    if (!c->store_failed) return rc;
    c->store_failed = 0;
    return mqttc__is_open(c) ? mqttc__fail(c, MQTTC_ERR_STORE) : rc;
}

/* One record the store held, back into the session (mqttc_init): an outgoing PUBLISH
   (checked: a PUBLISH of QoS 1 or 2 with this id, else skipped) resent with DUP, a PUBREL
   pending, or an incoming QoS 2 id. Ids go on after the highest. */
static int mqttc__store_adopt(void *arg, const mqttc_stored *st) {
    mqttc_client *c = (mqttc_client *)arg;
    mqttc_packet p;
    size_t used;
    int kind = st->kind == MQTTC_STORED_PUBREL ? MQTTC__AWAIT_PUBCOMP : MQTTC__AWAIT_PUBREL;
    if (!st->packet_id) return MQTTC_OK;
    if (st->kind == MQTTC_STORED_PUBLISH) {
        if (!st->data || mqttc__decode_broker_packet(st->data, st->len, 0, mqttc__version(c), &p, &used) != MQTTC_OK ||
            used != st->len || p.type != MQTTC_PUBLISH || p.publish.qos == 0 || p.publish.packet_id != st->packet_id)
            return MQTTC_OK; /* not what we stored: never replayed */
        kind = p.publish.qos == 1 ? MQTTC__AWAIT_PUBACK : MQTTC__AWAIT_PUBREC;
    } else if (st->kind != MQTTC_STORED_PUBREL && st->kind != MQTTC_STORED_PUBREC) {
        return MQTTC_OK;
    }
    if (kind == MQTTC__AWAIT_PUBREL ? mqttc__fl_find(c, kind, st->packet_id) != NULL
                                    : mqttc__fl_find(c, 0, st->packet_id) != NULL)
        return MQTTC_OK; /* (held twice: the first stands) */
    size_t len = st->kind == MQTTC_STORED_PUBLISH ? st->len : 0;
    mqttc__rec *r = mqttc__fl_add(c, kind, st->packet_id, len);
    if (!r) return MQTTC_ERR_NOMEM;
    if (len) memcpy(mqttc__rec_data(r), st->data, len);
    r->flags = MQTTC__WRITTEN;
    if (len && !(st->data[0] & 8u)) { /* never written before the end: queued, goes as new */
        r->flags = MQTTC__HELD;
        c->held++;
        c->held_bytes += len;
    }
    if (kind == MQTTC__AWAIT_PUBREL) c->incoming_qos2++;
    else c->outgoing_qos++;
    if (kind != MQTTC__AWAIT_PUBREL && st->packet_id > c->last_id) c->last_id = st->packet_id;
    return MQTTC_OK;
}

/* An outgoing flow's record is gone from the session: from the store too. */
static void mqttc__store_forget(mqttc_client *c, const mqttc__rec *r) {
    int kind = r->kind;
    if (kind == MQTTC__AWAIT_PUBACK || kind == MQTTC__AWAIT_PUBREC || kind == MQTTC__AWAIT_PUBCOMP)
        (void)mqttc__store_remove(c, 0, r->packet_id);
    else if (kind == MQTTC__AWAIT_PUBREL)
        (void)mqttc__store_remove(c, 1, r->packet_id);
}

/* Gives up the outgoing record at off (removed): on_dropped is told why, with the message
   read from the record (QoS 2 past PUBREC kept none: only its id). Returns how far the
   records after it moved (mqttc__fl_remove). */
static size_t mqttc__drop_publish(mqttc_client *c, size_t off, int why) {
    mqttc__rec *r = mqttc__rec_at(&c->inflight, off);
    mqttc_packet p;
    size_t used;
    memset(&p, 0, sizeof p);
    if (!r->data_len || mqttc__decode_broker_packet(mqttc__rec_data(r), r->data_len, 0, mqttc__version(c), &p,
                                                    &used) != MQTTC_OK) {
        p.publish.qos = 2;
        p.publish.packet_id = r->packet_id;
    }
    if (c->opt.on_dropped) c->opt.on_dropped(c, &p.publish, why, c->opt.user); /* (only looks) */
    r = mqttc__rec_at(&c->inflight, off);
    mqttc__unqueue(c, r);
    c->outgoing_qos--;
    mqttc__store_forget(c, r);
    return mqttc__fl_remove(c, r);
}

/* Whether a held message still fits this connection (MQTT 5 limits may have changed while it
   waited): MQTTC_OK, or why not. */
static int mqttc__still_fits(const mqttc_client *c, const mqttc__rec *r) {
    const unsigned char *d = mqttc__rec_data((mqttc__rec *)(uintptr_t)r);
    if (!MQTTC__V5(c)) return MQTTC_OK;
    if (c->limits.max_packet_size && r->data_len > c->limits.max_packet_size) return MQTTC_ERR_TOOLARGE;
    if ((int)((d[0] >> 1) & 3u) > c->limits.max_qos) return MQTTC_ERR_QOS;
    if ((d[0] & 1u) && !c->limits.retain_available) return MQTTC_ERR_UNSUPPORTED;
    return MQTTC_OK;
}

/* After CONNACK [MQTT-4.4.0-1]: first PUBREL for every flow past PUBREC, in PUBREC order
   [MQTT-4.6.0-4]: the broker counts those as in flight until it has PUBREL (mosquitto drops a
   QoS 2 PUBLISH past its 20, answering with a reason code a 3.1.1 client cannot see), so
   they must reach it before anything new. Then, in the original order [MQTT-4.6.0-1], what
   was written before (PUBLISH with DUP) and the queue, as far as the window goes (MQTT 5: a
   new Receive Maximum may be smaller [MQTT-3.3.4-7]); the rest stays held until acks make
   room. */
static int mqttc__resend_walk(mqttc_client *c) {
    mqttc__rec *r;
    unsigned budget = mqttc__window(c);
    size_t off = 0;
    c->fl.held_from = 0; /* (it marks records held anywhere) */
    for (; (r = mqttc__rec_at(&c->inflight, off)) != NULL; off += r->size) {
        if (r->kind != MQTTC__AWAIT_PUBCOMP) continue;
        int rc = mqttc__send_control(c, MQTTC_PUBREL, r->packet_id);
        if (rc != MQTTC_OK) return rc;
        if (budget) budget--; /* each flow takes one */
    }
    off = 0;
    while ((r = mqttc__rec_at(&c->inflight, off)) != NULL) {
        int rc = MQTTC_OK, is_publish = r->kind == MQTTC__AWAIT_PUBACK || r->kind == MQTTC__AWAIT_PUBREC;
        if (is_publish && (rc = mqttc__still_fits(c, r)) != MQTTC_OK) {
            mqttc__drop_publish(c, off, rc);
            continue;
        }
        if (is_publish && !(r->flags & MQTTC__HELD) && budget == 0) { /* sent when an ack makes room */
            r->flags |= MQTTC__HELD;
            c->held++;
        } else if (is_publish && budget) {
            rc = mqttc__write_publish(c, off);
            budget--;
        }
        if (rc != MQTTC_OK) return rc;
        r = mqttc__rec_at(&c->inflight, off);
        off += r->size;
    }
    return MQTTC_OK;
}

static int mqttc__resend(mqttc_client *c) {
    mqttc__fl_walk(c);
    int rc = mqttc__resend_walk(c);
    mqttc__fl_walked(c);
    return rc;
}

/* A flow ended, so the window has room: the first held PUBLISH goes, in order. The walk
   starts where the last one stopped (fl.held_from), so a long queue is not walked again per
   ack. */
static int mqttc__release_held(mqttc_client *c) {
    mqttc__rec *r;
    size_t off = c->fl.held_from;
    int rc = MQTTC_OK;
    if (!MQTTC__HAS_RECONNECT && !MQTTC__V5(c)) return MQTTC_OK; /* (nothing is ever held) */
    mqttc__fl_walk(c);
    while (c->held && (c->state == MQTTC_STATE_CONNECTED || c->state == MQTTC_STATE_DRAINING) && /* (a drain */
           c->outgoing_qos - c->held < mqttc__window(c) &&                                    /* sends them) */
           (r = mqttc__rec_at(&c->inflight, off)) != NULL) {
        if (!(r->flags & MQTTC__HELD)) {
            off += r->size;
            continue;
        }
        if ((rc = mqttc__still_fits(c, r)) != MQTTC_OK) {
            mqttc__drop_publish(c, off, rc);
            rc = MQTTC_OK;
        } else {
            rc = mqttc__write_publish(c, off);
            break;
        }
    }
    c->fl.held_from = (uint32_t)off; /* none held before it */
    mqttc__fl_walked(c);
    return rc;
}

/* The SUBSCRIBE of one kept subscription, made again after a lost session: its filter, its
   options, and in MQTT 5 its subscription identifier. The answer goes to no callback; a
   refusal drops the handler as ever. */
static int mqttc__resubscribe_one(mqttc_client *c, mqttc__rec *h) {
    unsigned char raw[5], opts = (unsigned char)h->packet_id;
    unsigned short id;
    size_t n, flen = h->data_len, pos = 0;
    int rc = mqttc__next_id(c, &id);
    if (rc != MQTTC_OK) return rc;
    size_t props = MQTTC__V5(c) ? 1 : 0, props_body = 0;
    if (MQTTC__V5(c) && h->sub_id && c->limits.sub_id_available) {
        raw[0] = MQTTC_PROP_SUBSCRIPTION_ID;
        props_body = (size_t)(mqttc__put_varint(raw + 1, h->sub_id) - raw);
        props = 1 + props_body;
    }
    size_t rem = 2 + props + 2 + flen + 1;
    unsigned char *p = mqttc__tx_space(c, rem + 5, 1, &rc);
    if (!p) return mqttc__fail(c, rc);
    mqttc__rec *r = mqttc__fl_add(c, MQTTC__AWAIT_SUBACK, id, 2 + flen);
    if (!r) return mqttc__fail(c, MQTTC_ERR_NOMEM);
    h = mqttc__handler_find(&c->subs, (const char *)mqttc__rec_data(h), flen); /* (subs did not move) */
    mqttc_str f = {(const char *)mqttc__rec_data(h), flen};
    mqttc__put_str(mqttc__rec_data(r), f);
    unsigned char *q = mqttc__begin(p, rem + 5, (MQTTC_SUBSCRIBE << 4) | 2u, rem, &n, &rc);
    q = mqttc__put16(q, id);
    if (MQTTC__V5(c)) *q++ = (unsigned char)props_body;
    for (; pos < props_body; pos++) *q++ = raw[pos];
    q = mqttc__put_str(q, f);
    *q = opts;
    mqttc_packet traced, *t = mqttc__trace_packet(c, &traced, MQTTC_SUBSCRIBE);
    if (t) { /* the trace sees it like any SUBSCRIBE: its one filter ends the packet */
        t->subscribe.type = MQTTC_SUBSCRIBE;
        t->subscribe.packet_id = id;
        t->subscribe.count = 1;
        t->subscribe.list_len = 2 + flen + 1;
        t->subscribe.list = p + n - t->subscribe.list_len;
    }
    return mqttc__queued_as(c, n, t);
}

static int mqttc__resubscribe(mqttc_client *c) {
    mqttc__rec *h;
    for (size_t off = 0; !c->opt.no_resubscribe && (h = mqttc__rec_at(&c->subs, off)) != NULL; off += h->size) {
        if (h->kind != MQTTC__HANDLER) continue;
        int rc = mqttc__resubscribe_one(c, h);
        if (rc != MQTTC_OK) return rc;
    }
    return MQTTC_OK;
}

/* The broker has no session of ours (session present 0: a new one, or it lost ours). Its
   half of QoS 2 is gone. Nothing is lost silently: QoS 1 messages go again as new ones; QoS
   2 ones are told to on_dropped (they may or may not have arrived), or go again as new with
   republish_qos2; the subscriptions are made again. Records added by on_dropped's own calls
   are new and left alone. */
static int mqttc__session_lost(mqttc_client *c) {
    mqttc__rec *r;
    size_t off = 0, end;
    for (size_t o = 0; MQTTC__HAS_STORE && c->opt.store && (r = mqttc__rec_at(&c->inflight, o)) != NULL; o += r->size)
        if (r->kind == MQTTC__AWAIT_PUBREL) mqttc__store_forget(c, r);
    mqttc__fl_drop(c, 1u << MQTTC__AWAIT_PUBREL);
    c->incoming_qos2 = 0;
    mqttc__fl_walk(c); /* (records stay where they are: on_dropped's are added after end) */
    for (end = c->inflight.len; off < end && (r = mqttc__rec_at(&c->inflight, off)) != NULL;) {
        int is_new = r->kind == MQTTC__AWAIT_PUBACK || (r->kind == MQTTC__AWAIT_PUBREC && c->opt.republish_qos2);
        if (is_new && (r->flags & MQTTC__WRITTEN)) {
            mqttc__rec_data(r)[0] &= (unsigned char)~8u; /* no DUP: new to this session */
            r->flags &= (unsigned char)~MQTTC__WRITTEN;
            c->held_bytes += r->data_len;
        }
        if (!is_new && (r->flags & MQTTC__WRITTEN) && (r->kind == MQTTC__AWAIT_PUBREC || r->kind == MQTTC__AWAIT_PUBCOMP))
            end -= mqttc__drop_publish(c, off, MQTTC_ERR_SESSION_LOST); /* (one never written is new) */
        else
            off += r->size;
        if (c->state == MQTTC_STATE_CLOSED) break;
    }
    mqttc__fl_walked(c);
    if (c->state == MQTTC_STATE_CLOSED) return c->error;
    int rc = mqttc__resubscribe(c);
    return rc == MQTTC_OK ? mqttc__resend(c) : rc;
}

/* One CONNACK property into this connection's limits [MQTT-3.2.2.3]. */
static void mqttc__adopt_limit(mqttc_client *c, const mqttc_prop *pr) {
    mqttc_limits *l = &c->limits;
    switch (pr->id) {
    case MQTTC_PROP_RECEIVE_MAX: l->receive_max = pr->value; break;
    case MQTTC_PROP_MAX_PACKET_SIZE: l->max_packet_size = pr->value; break;
    case MQTTC_PROP_TOPIC_ALIAS_MAX: l->topic_alias_max = pr->value; break;
    case MQTTC_PROP_MAX_QOS: l->max_qos = (int)pr->value; break;
    case MQTTC_PROP_RETAIN_AVAILABLE: l->retain_available = (int)pr->value; break;
    case MQTTC_PROP_WILDCARD_SUB_AVAILABLE: l->wildcard_available = (int)pr->value; break;
    case MQTTC_PROP_SUB_ID_AVAILABLE: l->sub_id_available = (int)pr->value; break;
    case MQTTC_PROP_SHARED_SUB_AVAILABLE: l->shared_available = (int)pr->value; break;
    case MQTTC_PROP_SERVER_KEEP_ALIVE: l->keepalive_s = pr->value; break; /* [MQTT-3.2.2-21] */
    case MQTTC_PROP_SESSION_EXPIRY: l->session_expiry_s = pr->value; break;
    default: break;
    }
}

/* MQTT 5: the CONNACK's properties are kept for on_status and mqttc_server_limits, its
   limits adopted, an Assigned Client Identifier kept for the next connects. */
static int mqttc__adopt_connack(mqttc_client *c, const mqttc_connack_info *ca) {
    mqttc_prop pr;
    size_t pos = 0;
    if (!mqttc__rec_put(&c->peer, MQTTC__CONNACK_PROPS, 0, ca->props.ptr, ca->props.len, 0)) return MQTTC_ERR_NOMEM;
    while (mqttc__props_next(&ca->props, &pos, &pr) == 1) {
        mqttc__adopt_limit(c, &pr);
        if (pr.id == MQTTC_PROP_ASSIGNED_CLIENT_ID &&
            !mqttc__rec_put(&c->peer, MQTTC__ASSIGNED_ID, 0, pr.str.ptr, pr.str.len, 1))
            return MQTTC_ERR_NOMEM;
    }
    return MQTTC_OK;
}

static int mqttc__on_connack(mqttc_client *c, const mqttc_connack_info *ca) {
    if (c->state != MQTTC_STATE_CONNACK_WAIT) return mqttc__violation(c, MQTTC_ERR_PROTOCOL, MQTTC_RC_PROTOCOL_ERROR);
    c->reason_code = ca->reason_code;
    if (MQTTC__V5(c)) {
        int rc = mqttc__adopt_connack(c, ca);
        if (rc != MQTTC_OK) return mqttc__fail(c, rc);
    }
    if (ca->reason_code != 0) return mqttc__fail(c, MQTTC_ERR_REFUSED); /* >= 0x80 in MQTT 5 [MQTT-4.13.2-1] */
    if (ca->session_present && !c->opt.no_clean_session) /* [MQTT-3.2.2-4] */
        return mqttc__violation(c, MQTTC_ERR_PROTOCOL, MQTTC_RC_PROTOCOL_ERROR);
    c->session_present = ca->session_present;
    mqttc__set_state(c, MQTTC_STATE_CONNECTED);
    mqttc__status_due(c, MQTTC_EVENT_CONNECTED);
    c->was_up = 1;
    c->up_since_ms = c->now_ms;
    /* clean session on: a new session every time [MQTT-3.1.2-6], so the broker never has ours */
    if (ca->session_present) return mqttc__resend(c);
    if (MQTTC__HAS_RECONNECT) return mqttc__session_lost(c);
    mqttc__rec *r;
    for (size_t off = 0; MQTTC__HAS_STORE && c->opt.store && (r = mqttc__rec_at(&c->inflight, off)) != NULL; off += r->size)
        mqttc__store_forget(c, r); /* the store keeps no session the client has dropped */
    mqttc__fl_drop(c, (1u << MQTTC__AWAIT_PUBACK) | (1u << MQTTC__AWAIT_PUBREC) |
                                      (1u << MQTTC__AWAIT_PUBCOMP) | (1u << MQTTC__AWAIT_PUBREL));
    c->outgoing_qos = c->incoming_qos2 = 0; /* MQTTC_NO_RECONNECT: the session's messages go with it */
    return MQTTC_OK;
}

/* The filter a shared subscription `$share/{name}/{filter}` matches with [MQTT-4.8.2]. */
static mqttc_str mqttc__unshared(const char *f, size_t len) {
    mqttc_str s = {f, len};
    if (len > 7 && memcmp(f, "$share/", 7) == 0) {
        const char *slash = (const char *)memchr(f + 7, '/', len - 7);
        if (slash) {
            s.ptr = slash + 1;
            s.len = len - (size_t)(s.ptr - f);
        }
    }
    return s;
}

/* Whether handler h takes message m. A message with subscription identifiers (MQTT 5)
   goes exactly to the handlers whose id it lists [MQTT-3.3.4-3]; one without goes to the
   handlers without an id whose filter matches (a handler with an id would have been
   listed; in MQTT 5 a $share/name/ prefix is not part of the match). */
static int mqttc__handler_takes(const mqttc_client *c, mqttc__rec *h, const mqttc_message *m, int has_ids) {
    if (!h->cb.message) return 0; /* a subscription without its own handler */
    if (has_ids) {
        mqttc_prop pr;
        size_t pos = 0;
        while (mqttc__props_next(&m->props, &pos, &pr) == 1)
            if (pr.id == MQTTC_PROP_SUBSCRIPTION_ID && pr.value == h->sub_id) return 1;
        return 0;
    }
    mqttc_str f = {(const char *)mqttc__rec_data(h), h->data_len};
    if (MQTTC__V5(c)) f = mqttc__unshared(f.ptr, f.len);
    return !(MQTTC__V5(c) && h->sub_id) && mqttc_topic_matches(f.ptr, f.len, m->topic, m->topic_len);
}

/* Hands a message to every per-filter handler it matches, or else to on_message. (With
   3.1.1 the broker says nothing of which subscription a message is for, so overlapping
   filters each see it; MQTT 5 subscription identifiers make this exact: the filters of one
   SUBSCRIBE share its id and their handler is called once.) A handler may
   subscribe, unsubscribe or publish, or disconnect (then delivery stops). Handlers are kept
   in the order they were set (seq), so the walk goes by seq, not by a position or pointer
   that a handler's call may move: a handler set during this delivery (seq > last) is not
   called for this message. */
static void mqttc__deliver(mqttc_client *c, const mqttc_message *m) {
    uint32_t last = c->handler_seq, done = 0, last_id = 0;
    int matched = 0;
    int has_ids = MQTTC__V5(c) && m->props.len && mqttc__props_find(&m->props, MQTTC_PROP_SUBSCRIPTION_ID, NULL);
    size_t off = 0;
    mqttc__rec *r;
    while ((r = mqttc__rec_at(&c->subs, off)) != NULL && r->seq <= last) {
        off += r->size;
        if (r->seq <= done) continue;
        done = r->seq;
        if (!mqttc__handler_takes(c, r, m, has_ids)) continue;
        if (MQTTC__V5(c) && r->sub_id) { /* the filters of one SUBSCRIBE: their handler once */
            if (r->sub_id == last_id) continue;
            last_id = r->sub_id;
        }
        matched = 1;
        r->cb.message(c, m, r->user);
        if (c->state != MQTTC_STATE_CONNECTED) return;
        off = 0; /* the pool may have changed: find the next seq from the start */
    }
    if (!matched && c->opt.on_message) c->opt.on_message(c, m, c->opt.user);
}

/* PUBLISH from the broker: acknowledge by its QoS before the application sees it
   [MQTT-4.5.0-2] (the ack leaves after the callback returns: output is held during
   dispatch). QoS 2 is delivered once: a repeat before PUBREL only gets PUBREC again
   [MQTT-4.3.3-2]. */
/* MQTT 5 incoming topic aliases: an alias 1..options.topic_alias_in [MQTT-3.3.2-10] with a
   topic sets the mapping; with an empty topic it names the topic set before. 0 or above
   our maximum is DISCONNECT 0x94, an alias never set 0x82. The topic then lives in the
   peer pool, NUL-terminated, unmoved until the next PUBLISH is handled. */
static int mqttc__resolve_alias(mqttc_client *c, mqttc_publish_info *m) {
    mqttc_prop pr;
    if (!mqttc__props_find(&m->props, MQTTC_PROP_TOPIC_ALIAS, &pr)) return MQTTC_OK;
    if (pr.value == 0 || pr.value > c->opt.topic_alias_in)
        return mqttc__violation(c, MQTTC_ERR_PROTOCOL, MQTTC_RC_TOPIC_ALIAS_INVALID);
    unsigned short alias = (unsigned short)pr.value;
    mqttc__rec *r = mqttc__rec_find(&c->peer, MQTTC__ALIAS_IN, alias);
    if (m->topic_len) {
        r = mqttc__rec_put(&c->peer, MQTTC__ALIAS_IN, alias, m->topic, m->topic_len, 1);
        if (!r) return mqttc__violation(c, MQTTC_ERR_OVERFLOW, MQTTC_RC_IMPLEMENTATION_SPECIFIC);
        return MQTTC_OK;
    }
    if (!r) return mqttc__violation(c, MQTTC_ERR_PROTOCOL, MQTTC_RC_PROTOCOL_ERROR);
    m->topic = (const char *)mqttc__rec_data(r);
    m->topic_len = r->data_len - 1;
    return MQTTC_OK;
}

static int mqttc__on_publish(mqttc_client *c, mqttc_publish_info *m) {
    int rc = MQTTC_OK, has_topic = m->topic_len > 0;
    if (MQTTC__V5(c) && m->props.len && (rc = mqttc__resolve_alias(c, m)) != MQTTC_OK) return rc;
    int is_repeat = m->qos == 2 && mqttc__fl_find(c, MQTTC__AWAIT_PUBREL, m->packet_id) != NULL;
    /* draining (mqttc_disconnect): a new flow is not taken; unacknowledged, the broker still
       owns the message and sends it again in a kept session [MQTT-4.4.0-1] */
    if (c->state == MQTTC_STATE_DRAINING && !is_repeat) return MQTTC_OK;
    if (m->qos == 1) rc = mqttc__send_control(c, MQTTC_PUBACK, m->packet_id);
    if (m->qos == 2) {
        if (!is_repeat && c->incoming_qos2 >= c->opt.max_inflight_in) /* our Receive Maximum (MQTT 5) */
            return mqttc__violation(c, MQTTC_ERR_OVERFLOW, MQTTC_RC_RECEIVE_MAX_EXCEEDED);
        if (!is_repeat && !mqttc__fl_add(c, MQTTC__AWAIT_PUBREL, m->packet_id, 0))
            return mqttc__violation(c, MQTTC_ERR_OVERFLOW, MQTTC_RC_IMPLEMENTATION_SPECIFIC);
        if (!is_repeat && mqttc__store_put(c, MQTTC_STORED_PUBREC, m->packet_id, NULL, 0) != MQTTC_OK) {
            mqttc__fl_remove(c, mqttc__fl_find(c, MQTTC__AWAIT_PUBREL, m->packet_id));
            return mqttc__fail(c, MQTTC_ERR_STORE); /* no PUBREC, not delivered: the broker sends it again */
        }
        c->incoming_qos2 += !is_repeat;
        rc = mqttc__send_control(c, MQTTC_PUBREC, m->packet_id);
        if (is_repeat) return rc;
    }
    if (rc != MQTTC_OK) return rc;
    if (has_topic) { /* NUL-terminate the topic in place: slide it over its 2-byte length prefix */
        char *topic = (char *)(uintptr_t)(m->topic - 2);
        memmove(topic, m->topic, m->topic_len);
        topic[m->topic_len] = '\0';
        m->topic = topic;
    }
    mqttc__deliver(c, m);
    return c->state == MQTTC_STATE_CLOSED ? c->error : MQTTC_OK;
}

/* PUBACK and PUBCOMP end an outgoing QoS 1 / QoS 2 flow. Strays are ignored (mosquitto's
   practice): the broker may be finishing a flow of an earlier session. */
static int mqttc__on_complete(mqttc_client *c, const mqttc_ack_info *a, int kind) {
    mqttc__rec *r = mqttc__fl_find(c, kind, a->packet_id);
    if (!r) return MQTTC_OK;
    mqttc__unqueue(c, r); /* (acknowledged before it went again: the broker had it) */
    mqttc__store_forget(c, r);
    mqttc__fl_remove(c, r);
    c->outgoing_qos--;
    int rc = mqttc__release_held(c);
    if (rc != MQTTC_OK) return rc;
    if (c->opt.on_published) c->opt.on_published(c, a, c->opt.user);
    return c->state == MQTTC_STATE_CLOSED ? c->error : MQTTC_OK;
}

/* PUBREC: the stored PUBLISH is dropped (never resent after PUBREL [MQTT-4.3.3-1]) and
   PUBREL goes out, in PUBREC order [MQTT-4.6.0-4]. A stray PUBREC is answered with PUBREL
   so the broker's flow can end. */
static int mqttc__on_pubrec(mqttc_client *c, const mqttc_ack_info *a) {
    if (MQTTC__V5(c) && a->reason_code >= 0x80) /* refused, the flow ends here [MQTT-4.4.0-2] */
        return mqttc__on_complete(c, a, MQTTC__AWAIT_PUBREC);
    mqttc__rec *r = mqttc__fl_find(c, MQTTC__AWAIT_PUBREC, a->packet_id);
    if (r) { /* re-added at the end, small: PUBRELs are resent in PUBREC order */
        mqttc__unqueue(c, r);
        mqttc__fl_remove(c, r);
        if (!(r = mqttc__fl_add(c, MQTTC__AWAIT_PUBCOMP, a->packet_id, 0)))
            return mqttc__violation(c, MQTTC_ERR_OVERFLOW, MQTTC_RC_IMPLEMENTATION_SPECIFIC);
        r->flags = MQTTC__WRITTEN;
        (void)mqttc__store_put(c, MQTTC_STORED_PUBREL, a->packet_id, NULL, 0); /* (replaces the PUBLISH) */
    }
    return mqttc__send_reason(c, MQTTC_PUBREL, a->packet_id, r || !MQTTC__V5(c) ? 0 : MQTTC_RC_PACKET_ID_NOT_FOUND);
}

/* PUBREL: the incoming QoS 2 flow ends with PUBCOMP [MQTT-4.3.3-2]; for an unknown id too. */
static int mqttc__on_pubrel(mqttc_client *c, const mqttc_ack_info *a) {
    mqttc__rec *r = mqttc__fl_find(c, MQTTC__AWAIT_PUBREL, a->packet_id);
    if (r) {
        mqttc__store_forget(c, r); /* before PUBCOMP leaves */
        mqttc__fl_remove(c, r);
        c->incoming_qos2--;
    }
    return mqttc__send_reason(c, MQTTC_PUBCOMP, a->packet_id, r || !MQTTC__V5(c) ? 0 : MQTTC_RC_PACKET_ID_NOT_FOUND);
}

/* Removes the handlers of a request's filters: all of them (codes NULL), or those the
   broker refused (0x80, in MQTT 5 any code from 0x80) [MQTT-3.9.3-2]. */
static void mqttc__drop_handlers(mqttc_client *c, mqttc__rec *r, const unsigned char *codes) {
    size_t pos = 0, i = 0;
    mqttc_str f;
    for (; mqttc__rec_next_filter(r, &pos, &f); i++) {
        if (codes && codes[i] < 0x80) continue;
        mqttc__rec *h = mqttc__handler_find(&c->subs, f.ptr, f.len);
        if (h) mqttc__rec_remove(&c->subs, h);
    }
}

static size_t mqttc__rec_filter_count(mqttc__rec *r) {
    size_t pos = 0, n = 0;
    mqttc_str f;
    while (mqttc__rec_next_filter(r, &pos, &f)) n++;
    return n;
}

/* SUBACK: one code per filter we sent, in order [MQTT-3.9.3-1]; an unknown id or a wrong
   count is a protocol violation. A refused filter (0x80) loses its handler. */
static int mqttc__on_suback(mqttc_client *c, const mqttc_suback_info *sa) {
    mqttc__rec *r = mqttc__fl_find(c, MQTTC__AWAIT_SUBACK, sa->packet_id);
    if (!r || sa->count != mqttc__rec_filter_count(r))
        return mqttc__violation(c, MQTTC_ERR_PROTOCOL, MQTTC_RC_PROTOCOL_ERROR);
    mqttc_suback_fn fn = r->cb.suback;
    void *user = r->user;
    mqttc__drop_handlers(c, r, sa->codes);
    mqttc__fl_remove(c, r);
    if (fn) fn(c, sa, user);
    return c->state == MQTTC_STATE_CLOSED ? c->error : MQTTC_OK;
}

/* An MQTT 5 UNSUBACK has a code per filter, in order [MQTT-3.11.3-1]. */
static int mqttc__on_unsuback(mqttc_client *c, const mqttc_ack_info *a) {
    mqttc__rec *r = mqttc__fl_find(c, MQTTC__AWAIT_UNSUBACK, a->packet_id);
    if (!r || (MQTTC__V5(c) && a->count != mqttc__rec_filter_count(r)))
        return mqttc__violation(c, MQTTC_ERR_PROTOCOL, MQTTC_RC_PROTOCOL_ERROR);
    mqttc_unsuback_fn fn = r->cb.unsuback;
    void *user = r->user;
    mqttc__drop_handlers(c, r, NULL);
    mqttc__fl_remove(c, r);
    if (fn) fn(c, a, user);
    return c->state == MQTTC_STATE_CLOSED ? c->error : MQTTC_OK;
}

/* MQTT 5: the broker's DISCONNECT ends the connection; its reason code and properties
   (Reason String, Server Reference) are kept for on_status [MQTT-3.14.2]. */
static int mqttc__on_disconnect(mqttc_client *c, const mqttc_disconnect_info *d) {
    c->reason_code = d->reason_code;
    if (!mqttc__rec_put(&c->peer, MQTTC__DISCONNECT_PROPS, 0, d->props.ptr, d->props.len, 0))
        return mqttc__fail(c, MQTTC_ERR_NOMEM);
    return mqttc__fail(c, MQTTC_ERR_SERVER_DISCONNECT);
}

/* The Authentication Method of our CONNECT (options.connect_props), or ptr NULL. */
static mqttc_str mqttc__auth_method(const mqttc_client *c) {
    mqttc_prop pr;
    mqttc_str none = {NULL, 0};
    return mqttc__props_find(&c->opt.connect_props, MQTTC_PROP_AUTH_METHOD, &pr) ? pr.str : none;
}

/* AUTH with our method and these data [MQTT-4.12.0-5]. */
static int mqttc__send_auth(mqttc_client *c, int reason, mqttc_str data) {
    mqttc_prop list[2];
    mqttc_auth_info ai;
    size_t n;
    int rc;
    memset(&ai, 0, sizeof ai);
    memset(list, 0, sizeof list);
    list[0].id = MQTTC_PROP_AUTH_METHOD;
    list[0].str = mqttc__auth_method(c);
    list[1].id = MQTTC_PROP_AUTH_DATA;
    list[1].str = data;
    ai.reason_code = reason;
    ai.props.list = list;
    ai.props.count = data.ptr ? 2 : 1;
    if (mqttc_encode_auth(NULL, 0, mqttc__version(c), &ai, &n) != MQTTC_ERR_NOSPACE) return MQTTC_ERR_ARG;
    unsigned char *p = mqttc__tx_space(c, n, 1, &rc);
    if (!p) return mqttc__fail(c, rc);
    mqttc_encode_auth(p, n, mqttc__version(c), &ai, &n);
    return mqttc__queued(c, n);
}

/* MQTT 5 AUTH: only when we named a method, and with that method [MQTT-4.12.0-6/7]. A
   challenge (0x18) goes to options.on_auth and its answer back with 0x18 [MQTT-4.12.0-3];
   success (0x00) ends a re-authentication. Giving up: DISCONNECT 0x87, MQTTC_ERR_AUTH. */
static int mqttc__on_auth(mqttc_client *c, const mqttc_auth_info *a) {
    mqttc_str data = {NULL, 0};
    mqttc_str ours = mqttc__auth_method(c);
    mqttc_prop theirs;
    if (!ours.ptr || !mqttc__props_find(&a->props, MQTTC_PROP_AUTH_METHOD, &theirs) ||
        theirs.str.len != ours.len || memcmp(theirs.str.ptr, ours.ptr, ours.len) != 0 ||
        a->reason_code == MQTTC_RC_REAUTHENTICATE || (a->reason_code == 0 && c->state == MQTTC_STATE_CONNACK_WAIT))
        return mqttc__violation(c, MQTTC_ERR_PROTOCOL, MQTTC_RC_PROTOCOL_ERROR);
    if (a->reason_code == 0) return MQTTC_OK;
    if (!c->opt.on_auth || c->opt.on_auth(c, a, &data, c->opt.user) != 0)
        return mqttc__violation(c, MQTTC_ERR_AUTH, MQTTC_RC_NOT_AUTHORIZED);
    if (c->state == MQTTC_STATE_CLOSED) return c->error;
    return mqttc__send_auth(c, MQTTC_RC_CONTINUE_AUTH, data);
}

/* Before CONNACK anything else is "invalidresp" [MQTT-3.2.0-1] (MQTT 5 also allows AUTH
   [MQTT-3.1.2-30]); packets only a client sends are protocol violations [MQTT-4.8.0-1]. */
static int mqttc__dispatch(mqttc_client *c, mqttc_packet *p) {
    if (c->state == MQTTC_STATE_CONNACK_WAIT && p->type != MQTTC_CONNACK && !(MQTTC__V5(c) && p->type == MQTTC_AUTH))
        return mqttc__violation(c, MQTTC_ERR_INVALIDRESP, MQTTC_RC_PROTOCOL_ERROR);
    switch (p->type) {
    case MQTTC_CONNACK: return mqttc__on_connack(c, &p->connack);
    case MQTTC_PUBLISH: return mqttc__on_publish(c, &p->publish);
    case MQTTC_PUBACK: return mqttc__on_complete(c, &p->ack, MQTTC__AWAIT_PUBACK);
    case MQTTC_PUBREC: return mqttc__on_pubrec(c, &p->ack);
    case MQTTC_PUBREL: return mqttc__on_pubrel(c, &p->ack);
    case MQTTC_PUBCOMP: return mqttc__on_complete(c, &p->ack, MQTTC__AWAIT_PUBCOMP);
    case MQTTC_SUBACK: return mqttc__on_suback(c, &p->suback);
    case MQTTC_UNSUBACK: return mqttc__on_unsuback(c, &p->ack);
    case MQTTC_PINGRESP: c->ping_outstanding = 0; return MQTTC_OK;
    default: /* MQTT 5 adds DISCONNECT and AUTH from the broker */
        if (MQTTC__V5(c) && p->type == MQTTC_DISCONNECT) return mqttc__on_disconnect(c, &p->disconnect);
        if (MQTTC__V5(c) && p->type == MQTTC_AUTH) return mqttc__on_auth(c, &p->auth);
        return mqttc__violation(c, MQTTC_ERR_PROTOCOL, MQTTC_RC_PROTOCOL_ERROR);
    }
}

/* ---- the step, phase by phase in the order data flows ---- */

/* Phase 1: the transport chain's handshake (TCP connect, TLS, ...) moves on; when it is
   done, CONNECT goes [MQTT-3.1.0-1]. */
static int mqttc__advance_connection(mqttc_client *c) {
    if (c->state != MQTTC_STATE_HANDSHAKE) return MQTTC_OK;
    int rc = c->tr.handshake(&c->tr);
    if (rc == MQTTC_MORE) return MQTTC_OK;
    if (rc != MQTTC_OK) return mqttc__fail(c, rc);
    return mqttc__send_connect(c);
}

/* States in which received packets are handled: after DISCONNECT nothing more is sent
   [MQTT-3.14.4-2], so nothing more is handled. */
static int mqttc__takes_input(const mqttc_client *c) {
    return c->state == MQTTC_STATE_CONNACK_WAIT || c->state == MQTTC_STATE_CONNECTED ||
           c->state == MQTTC_STATE_DRAINING;
}

/* Decodes and dispatches every complete packet in the receive buffer. Output is held
   during dispatch so the acks of a whole read leave in one write. The CONNACK ends a
   dispatch: whoever waits for the connection (mqttc_connect_wait, a poll loop) sees it
   connected before any message of the session is delivered; the packets after it (a
   resumed session's, often in the same read) wait in rx_pending for the next step. */
static int mqttc__dispatch_all(mqttc_client *c) {
    mqttc_packet p;
    size_t used;
    c->in_dispatch++;
    c->rx_pending = 0;
    while (c->rx.len && mqttc__takes_input(c)) {
        int rc = mqttc__decode_broker_packet(c->rx.p + c->rx.start, c->rx.len, c->opt.max_packet_size,
                                             mqttc__version(c), &p, &used);
        if (rc == MQTTC_MORE) break;
        if (rc != MQTTC_OK) { /* MQTT 5 names it: 0x95 too large, 0x82 not allowed, 0x81 malformed */
            int err = rc == MQTTC_ERR_OVERFLOW ? MQTTC_ERR_OVERFLOW : MQTTC_ERR_PROTOCOL;
            int reason = rc == MQTTC_ERR_OVERFLOW ? MQTTC_RC_PACKET_TOO_LARGE
                         : rc == MQTTC_ERR_PROTOCOL ? MQTTC_RC_PROTOCOL_ERROR : MQTTC_RC_MALFORMED_PACKET;
            mqttc__violation(c, c->state == MQTTC_STATE_CONNACK_WAIT ? MQTTC_ERR_INVALIDRESP : err, reason);
            break;
        }
        if (c->opt.on_trace) c->opt.on_trace(c, 0, &p, c->opt.user);
        mqttc__dispatch(c, &p);
        if (c->state == MQTTC_STATE_CLOSED) break;
        mqttc__buf_consume(&c->rx, used);
        if (p.type == MQTTC_CONNACK) {
            c->rx_pending = c->rx.len > 0;
            c->in_dispatch--;
            return MQTTC_MORE; /* also when it ended the read exactly: the next step reads on */
        }
    }
    c->in_dispatch--;
    return c->state == MQTTC_STATE_CLOSED ? c->error : MQTTC_OK;
}

/* Room to read into: at least what the packet being received still needs. The buffer starts
   small (an idle connection holds little) and doubles each time a read fills it, up to
   MQTTC__READ_AHEAD, so a stream is read in large chunks. It grows to the largest packet
   (not past max_packet_size) and never shrinks: no allocation per message. */
#define MQTTC__READ_AHEAD 16384u
static int mqttc__rx_room(mqttc_client *c, int was_full) {
    mqttc_packet p;
    size_t total = 0, want = 1;
    if (c->rx.len) (void)mqttc__decode_broker_packet(c->rx.p + c->rx.start, c->rx.len, 0, mqttc__version(c), &p, &total);
    if (total > c->rx.len) want = total - c->rx.len;
    /* more room than the whole buffer has: it doubles even when the read that filled it
       ended on a packet's end (a stream of 4-byte acks), not only inside one */
    if (was_full && !c->rx.is_fixed && want <= c->rx.cap && c->rx.cap < MQTTC__READ_AHEAD &&
        c->rx.len + c->rx.cap < c->rx.max)
        want = c->rx.cap + 1u;
    if (c->rx.cap - c->rx.start - c->rx.len >= want) return MQTTC_OK;
    int rc = mqttc__buf_reserve(&c->rx, want);
    return rc == MQTTC_OK ? MQTTC_OK : mqttc__fail(c, rc == MQTTC_ERR_NOMEM ? rc : MQTTC_ERR_OVERFLOW);
}

/* Input is read while the output is not congested (a broker that does not read cannot
   make us buffer without end) and the application has not paused it. */
static int mqttc__wants_input(const mqttc_client *c) {
    return !c->is_paused && c->tx.len <= c->opt.max_output;
}

/* Phase 3: dispatch what waited since a CONNACK, then read what is there (in large chunks)
   and dispatch it. */
static int mqttc__read_input(mqttc_client *c) {
    if (!mqttc__wants_input(c)) return MQTTC_OK;
    if (c->rx_pending) {
        int rc = mqttc__dispatch_all(c);
        if (rc != MQTTC_OK || c->rx_pending) return rc < 0 ? rc : MQTTC_OK;
    }
    for (int rounds = 0; rounds < 16; rounds++) {
        if (!mqttc__takes_input(c) || !mqttc__wants_input(c)) break;
        int rc = mqttc__rx_room(c, rounds > 0); /* after round 0 the last read filled the room */
        if (rc != MQTTC_OK) return rc;
        size_t n = 0, room = c->rx.cap - c->rx.start - c->rx.len;
        rc = c->tr.recv(&c->tr, c->rx.p + c->rx.start + c->rx.len, room, &n);
        if (rc != MQTTC_OK) return mqttc__fail(c, rc);
        if (n == 0) break;
        c->rx.len += (uint32_t)n;
        c->last_rx_ms = c->now_ms;
        rc = mqttc__dispatch_all(c);
        if (rc == MQTTC_MORE) break; /* a CONNACK came: what follows waits for the next step */
        if (rc != MQTTC_OK) return rc;
        if (n < room) break; /* the socket is drained */
    }
    return c->state == MQTTC_STATE_CLOSED ? c->error : MQTTC_OK;
}

/* The keepalive in effect: ours, or in MQTT 5 the broker's Server Keep Alive [MQTT-3.2.2-21]. */
static unsigned mqttc__keepalive_s(const mqttc_client *c) {
    return MQTTC__V5(c) ? c->limits.keepalive_s : c->opt.keepalive_s;
}

/* Paused, nothing is received: pings go by what was sent, one a keepalive period. */
static uint64_t mqttc__ping_due(const mqttc_client *c) {
    uint64_t last = c->last_tx_ms < c->last_rx_ms || c->is_paused ? c->last_tx_ms : c->last_rx_ms;
    return last + (uint64_t)mqttc__keepalive_s(c) * 1000u;
}

/* The wait for PINGRESP: options.ping_timeout_ms, at most the keepalive in effect (MQTT
   5's Server Keep Alive may have shortened it). */
static uint64_t mqttc__ping_timeout(const mqttc_client *c) {
    if (!MQTTC__V5(c)) return c->opt.ping_timeout_ms; /* already at most the keepalive */
    uint64_t ka = (uint64_t)mqttc__keepalive_s(c) * 1000u;
    return c->opt.ping_timeout_ms < ka ? c->opt.ping_timeout_ms : ka;
}

/* The session is up (CONNACK received): keepalive runs. */
static int mqttc__is_up(const mqttc_client *c) {
    return c->state == MQTTC_STATE_CONNECTED || c->state == MQTTC_STATE_DRAINING;
}

/* DISCONNECT goes out [MQTT-3.14.4-1]; the connection closes once it is written, within
   the disconnect timeout. */
static int mqttc__send_disconnect(mqttc_client *c) {
    mqttc__rec *r = MQTTC__V5(c) ? mqttc__fl_find(c, MQTTC__DISCONNECT_OUT, 0) : NULL; /* _with's */
    int rc = MQTTC_OK;
    if (r) {
        unsigned char *p = mqttc__tx_space(c, r->data_len, 1, &rc);
        if (!p) return mqttc__fail(c, rc);
        r = mqttc__fl_find(c, MQTTC__DISCONNECT_OUT, 0);
        size_t n = r->data_len;
        memcpy(p, mqttc__rec_data(r), n);
        mqttc__fl_remove(c, r);
        rc = mqttc__queued(c, n);
    } else {
        rc = mqttc__send_control(c, MQTTC_DISCONNECT, 0);
    }
    if (rc != MQTTC_OK) return rc;
    mqttc__set_state(c, MQTTC_STATE_DISCONNECTING);
    c->connect_deadline_ms = c->now_ms + c->opt.disconnect_timeout_ms;
    mqttc__wake(c);
    return MQTTC_OK;
}

/* Phase 4: deadlines. Connect timeout; the drain of a disconnect (DISCONNECT goes all the
   same, the end says "timeout"); PINGREQ when nothing was sent or received for keepalive
   [MQTT-3.1.2-23]; no PINGRESP in time ends it (not awaited while input is paused: it
   cannot be read). */
static int mqttc__check_timers(mqttc_client *c) {
    uint64_t now = c->now_ms;
    if (mqttc__is_open(c) && c->state != MQTTC_STATE_CONNECTED && now >= c->connect_deadline_ms) {
        if (c->state == MQTTC_STATE_DISCONNECTING) return mqttc__fail(c, MQTTC_ERR_DISCONNECT);
        if (c->state == MQTTC_STATE_DRAINING && mqttc__send_disconnect(c) == MQTTC_OK) (void)mqttc__flush(c);
        return mqttc__fail(c, MQTTC_ERR_TIMEOUT);
    }
    if (MQTTC__HAS_RECONNECT && c->state == MQTTC_STATE_CONNECTED && (c->attempt || c->flaps) &&
        now - c->up_since_ms >= c->opt.reconnect_reset_ms)
        c->attempt = c->flaps = 0; /* the link held: the next loss starts the backoff anew */
    if (!mqttc__is_up(c) || mqttc__keepalive_s(c) == 0) return MQTTC_OK;
    if (c->ping_outstanding && !c->is_paused) {
        if (now >= c->ping_sent_ms + mqttc__ping_timeout(c)) return mqttc__fail(c, MQTTC_ERR_PINGRESP);
        return MQTTC_OK;
    }
    if (now < mqttc__ping_due(c)) return MQTTC_OK;
    c->ping_outstanding = 1;
    c->ping_sent_ms = now;
    return mqttc__send_control(c, MQTTC_PINGREQ, 0);
}

/* Phase 5: a drain whose flows are all done sends DISCONNECT; DISCONNECT written out:
   close [MQTT-3.14.4-1]. */
static int mqttc__finish_disconnect(mqttc_client *c) {
    if (c->state == MQTTC_STATE_DRAINING && c->outgoing_qos == 0 && c->incoming_qos2 == 0) {
        int rc = mqttc__send_disconnect(c);
        if (rc != MQTTC_OK) return rc;
    }
    if (c->state == MQTTC_STATE_DISCONNECTING && c->tx.len == 0) return mqttc__fail(c, MQTTC_ERR_DISCONNECT);
    return c->state == MQTTC_STATE_CLOSED ? c->error : MQTTC_OK;
}

/* A connection over a transport the caller made: the stages above it as the options say. */
static mqttc__endpoint mqttc__given_endpoint(const mqttc_client *c) {
    mqttc__endpoint ep;
    memset(&ep, 0, sizeof ep);
    ep.secure = c->opt.secure;
#if !defined(MQTTC_NO_WEBSOCKET) && !defined(MQTTC_NO_SOCKETS)
    ep.ws_path = c->opt.ws_path; /* (refused at init in a build without WebSocket) */
#endif
    return ep;
}

/* Every connect path ends here with the bottom stage t (TCP to the next hop, an adopted
   socket, or the caller's transport), its handshake maybe still pending: the stages above
   it are added (>>transport's chain), and the connection begins. On failure the stage is
   closed and the connect has failed (CLOSED, the error sticks, on_status is told); only
   MQTTC_ERR_STATE (a connection is open) leaves everything, t included, as it was. */
static int mqttc__start(mqttc_client *c, const mqttc_transport *t, const mqttc__endpoint *ep, int is_connected,
                        uint64_t now_ms) {
    const char *bad = NULL;
    int rc = mqttc__begin_connection(c, now_ms);
    if (rc == MQTTC_ERR_STATE) return rc;
    c->login = ep->login;
    c->tr = *t;
    if (rc == MQTTC_OK) rc = mqttc__chain(&c->stages, &c->opt, ep, &c->tr, &bad);
    if (rc != MQTTC_OK) {
        if (bad) c->bad_arg = bad;
        return mqttc__fail(c, rc);
    }
    if (!c->tr.handshake) return mqttc__send_connect(c);
    mqttc__set_state(c, MQTTC_STATE_HANDSHAKE);
    /* over a connected socket the handshake begins now (TLS's first flight leaves); a TCP
       connect is only started, and the steps see it through */
    return is_connected ? mqttc__advance_connection(c) : MQTTC_OK;
}

#ifndef MQTTC_NO_SOCKETS
/* A port number, or 0 for anything else. */
static int mqttc__parse_port(const char *s) {
    long v = 0;
    for (; *s >= '0' && *s <= '9' && v <= 65535; s++) v = v * 10 + (*s - '0');
    return *s || v > 65535 ? 0 : (int)v;
}

/* MQTT's ports (IANA) and WebSocket's (HTTP's). */
static int mqttc__default_port(int secure, int is_ws) {
    return is_ws ? (secure ? 443 : 80) : secure ? 8883 : 1883;
}

static const char *const mqttc__broker_schemes[] = {"mqtt", "mqtts", "ws", "wss", NULL};

/* A URL's user name and password, unescaped, kept for CONNECT (MQTTC__LOGIN, used only on
   a connection to that URL: one broker's credentials never reach another). */
static int mqttc__keep_login(mqttc_client *c, const mqttc__url *u) {
    mqttc__rec_drop(&c->subs, 1u << MQTTC__LOGIN);
    if (!u->user) return MQTTC_OK;
    mqttc__rec *r = mqttc__rec_add(&c->subs, MQTTC__LOGIN, 0, u->user_len + 1 + u->pass_len + 1);
    if (!r) return MQTTC_ERR_NOMEM;
    char *d = (char *)mqttc__rec_data(r);
    long ulen = mqttc__unescape(u->user, u->user_len, d), plen = 0;
    if (ulen >= 0 && u->pass) plen = mqttc__unescape(u->pass, u->pass_len, d + ulen + 1);
    if (ulen < 0 || plen < 0 || ulen > 65535 || plen > 65535) {
        mqttc__rec_remove(&c->subs, r);
        return MQTTC_ERR_ARG;
    }
    d[ulen] = '\0';
    r->packet_id = (unsigned short)ulen;
    r->seq = u->pass ? (uint32_t)plen + 1u : 0u;
    return MQTTC_OK;
}

/* The URL's login into CONNECT: valid while CONNECT is encoded (nothing changes the subs
   pool meanwhile). */
static void mqttc__url_login(const mqttc_client *c, mqttc_connect_info *ci) {
    mqttc__rec *login = mqttc__rec_first((mqttc__buf *)&c->subs, MQTTC__LOGIN);
    if (!login || c->opt.username) return; /* options.username first */
    ci->username.ptr = (const char *)mqttc__rec_data(login);
    ci->username.len = login->packet_id;
    if (login->seq) {
        ci->password.ptr = ci->username.ptr + login->packet_id + 1;
        ci->password.len = login->seq - 1u;
    }
}

/* A broker URL (mqttc_connect_url) into ep, its host copied into buf[256]; its login kept.
   MQTTC_ERR_ARG for a URL this build cannot dial. */
static int mqttc__url_endpoint(mqttc_client *c, const char *url, mqttc__endpoint *ep, char *buf) {
    mqttc__url u;
    int rc = mqttc__url_parse(url, mqttc__broker_schemes, &u);
    if (rc != MQTTC_OK) return rc;
    memset(ep, 0, sizeof *ep);
    ep->secure = u.scheme == 1 || u.scheme == 3;
    ep->ws_path = u.scheme >= 2 ? (u.path ? u.path : "/mqtt") : NULL;
#ifndef MQTTC_WITH_OPENSSL
    if (ep->secure) return MQTTC_ERR_ARG;
#endif
#ifdef MQTTC_NO_WEBSOCKET
    if (ep->ws_path) return MQTTC_ERR_ARG;
#endif
    ep->host = mqttc__url_host(&u, buf);
    ep->port = u.port ? u.port : mqttc__default_port(ep->secure, ep->ws_path != NULL);
    ep->has_login = u.user != NULL;
    ep->login = u.user ? mqttc__url_login : NULL;
    return mqttc__keep_login(c, &u);
}

/* TCP to the next hop: the proxy (options.proxy, checked at init) or the broker itself. */
static int mqttc__open_hop(mqttc_client *c, mqttc__endpoint *ep, mqttc_transport *t) {
    const char *hop = ep->host;
    int port = ep->port;
#ifndef MQTTC_NO_PROXY
    char host[256];
    mqttc__url px;
    if (c->opt.proxy && mqttc__proxy_parse(c->opt.proxy, &px) == MQTTC_OK) { /* (checked at init) */
        hop = mqttc__url_host(&px, host);
        port = px.port;
    }
#else
    (void)c;
#endif
    return mqttc__tcp_open(t, hop, port);
}

/* The broker of target i: 0 the one connected first (its host and port, or its URL, kept
   in the subs pool), i: options.brokers[i - 1], a URL, or "host", "host:port" or
   "[v6]:port" (the first's port when none is given), into ep (host copied into buf[256]).
   The kept URL is parsed from a copy in url[MQTTC__URL_MAX]: keeping its login changes the
   subs pool, which would move the record under the parsed login and path. */
static int mqttc__target(mqttc_client *c, unsigned i, char *buf, mqttc__endpoint *ep, char *url) {
    mqttc__rec *t = mqttc__rec_first(&c->subs, MQTTC__TARGET);
    const char *h, *colon;
    size_t len;
    if (!t) return MQTTC_ERR_STATE;
    h = i ? c->opt.brokers[i - 1] : (const char *)mqttc__rec_data(t);
    if (!i && t->data_len <= MQTTC__URL_MAX && strstr(h, "://")) { /* (no longer: refused when kept) */
        memcpy(url, h, t->data_len);
        h = url;
    }
    if (strstr(h, "://")) return mqttc__url_endpoint(c, h, ep, buf);
    *ep = mqttc__given_endpoint(c);
    ep->port = t->packet_id ? t->packet_id : mqttc__default_port(ep->secure, ep->ws_path != NULL);
    len = strlen(h);
    colon = strrchr(h, ':');
    if (i && h[0] == '[') { /* [v6] or [v6]:port */
        const char *end = strchr(h, ']');
        if (!end) return MQTTC_ERR_ARG;
        if (end[1] == ':') ep->port = mqttc__parse_port(end + 2);
        h++;
        len = (size_t)(end - h);
    } else if (i && colon && strchr(h, ':') == colon) { /* one colon: host:port */
        ep->port = mqttc__parse_port(colon + 1);
        len = (size_t)(colon - h);
    }
    if (len >= 256 || ep->port <= 0 || ep->port > 65535) return MQTTC_ERR_ARG;
    memcpy(buf, h, len);
    buf[len] = '\0';
    ep->host = buf;
    return MQTTC_OK;
}

#endif

/* WAITING and due: the next attempt, to the next broker of the list. A dial that fails at
   once (resolving, no address) is a failed attempt like any other. */
static int mqttc__redial(mqttc_client *c) {
    mqttc_transport t;
    char host[256], url[MQTTC__URL_MAX];
    int rc = MQTTC_ERR_STATE;
    unsigned n = 1;
    while (c->opt.brokers && c->opt.brokers[n - 1]) n++;
    c->target = (c->target + 1) % n;
    memset(&t, 0, sizeof t);
    if (c->dial == 2) {
        rc = c->opt.reconnect_transport(c, &t, c->opt.user);
        if (rc == MQTTC_OK && (!t.send || !t.recv)) rc = MQTTC_ERR_ARG;
        mqttc__endpoint given = mqttc__given_endpoint(c);
        if (rc == MQTTC_OK) return mqttc__start(c, &t, &given, 1, c->now_ms);
    }
#ifndef MQTTC_NO_SOCKETS
    mqttc__endpoint ep;
    if (c->dial == 1 && (rc = mqttc__target(c, c->target, host, &ep, url)) == MQTTC_OK &&
        (rc = mqttc__open_hop(c, &ep, &t)) == MQTTC_OK)
        return mqttc__start(c, &t, &ep, 0, c->now_ms);
#else
    (void)host;
    (void)url;
#endif
    if (mqttc__begin_connection(c, c->now_ms) == MQTTC_OK) rc = mqttc__fail(c, rc);
    return rc;
}

MQTTC_DEF int mqttc_step(mqttc_client *c, uint64_t now_ms) {
    mqttc__lock(c);
    if (c->in_dispatch) { /* from a callback: would re-enter dispatch in mid-packet */
        mqttc__unlock(c);
        return MQTTC_ERR_STATE;
    }
    c->now_ms = now_ms;
    int rc = c->state == MQTTC_STATE_IDLE ? MQTTC_ERR_STATE : c->error;
    if (MQTTC__HAS_RECONNECT && c->state == MQTTC_STATE_WAITING && now_ms >= c->retry_at_ms) rc = mqttc__redial(c);
    if (mqttc__is_open(c)) {
        rc = mqttc__advance_connection(c);
        if (rc == MQTTC_OK) rc = mqttc__flush(c);
        if (rc == MQTTC_OK) rc = mqttc__read_input(c);
        if (rc == MQTTC_OK) rc = mqttc__check_timers(c);
        if (rc == MQTTC_OK) rc = mqttc__flush(c);
        if (rc == MQTTC_OK) rc = mqttc__finish_disconnect(c);
    }
    if (MQTTC__HAS_STORE && c->opt.store) rc = mqttc__store_flush(c, rc);
    mqttc__tell_status(c);
    if (c->state == MQTTC_STATE_WAITING) rc = MQTTC_OK; /* lost, but dialling again */
    mqttc__unlock(c);
    return rc;
}

MQTTC_DEF int mqttc_fd(const mqttc_client *c) { return mqttc__is_open(c) ? c->tr.fd : -1; }

MQTTC_DEF unsigned mqttc_events(const mqttc_client *c) {
    if (!mqttc__is_open(c)) return 0;
    if (c->state == MQTTC_STATE_HANDSHAKE) return c->tr.want ? c->tr.want : (unsigned)MQTTC_EV_READ;
    unsigned ev = c->tr.want;
    if (c->tx.len) ev |= MQTTC_EV_WRITE;
    if (mqttc__wants_input(c)) ev |= MQTTC_EV_READ; /* see mqttc__read_input */
    return ev;
}

/* Milliseconds from now until due, as a poll timeout. */
static long mqttc__until(uint64_t due, uint64_t now_ms) {
    if (due <= now_ms) return 0;
    return due - now_ms > 0x7fffffffu ? 0x7fffffffL : (long)(due - now_ms);
}

/* 0 whenever a step has work that no fd event announces: an end to report (a client that
   is not open, so a loop around poll always ends), a DISCONNECT written and waiting to
   close, packets kept since a CONNACK, bytes the transport holds (TLS). */
MQTTC_DEF long mqttc_timeout_ms(const mqttc_client *c, uint64_t now_ms) {
    uint64_t due = 0, ping = 0;
    if (c->state == MQTTC_STATE_WAITING) return mqttc__until(c->retry_at_ms, now_ms); /* the next attempt */
    if (!mqttc__is_open(c)) return 0;
    if (c->state == MQTTC_STATE_DISCONNECTING && c->tx.len == 0) return 0;
    if ((c->rx_pending || c->tr.has_buffered_input) && mqttc__wants_input(c)) return 0;
    if (c->state != MQTTC_STATE_CONNECTED) due = c->connect_deadline_ms;
    if (mqttc__is_up(c) && mqttc__keepalive_s(c)) {
        ping = c->ping_outstanding && !c->is_paused ? c->ping_sent_ms + mqttc__ping_timeout(c) : mqttc__ping_due(c);
        if (!due || ping < due) due = ping;
    }
    return due ? mqttc__until(due, now_ms) : -1;
}

/* ---- the verbs ---- */

/* MQTT 5 properties from the application: valid for the packet, and none of those the
   client owns (Topic Alias; a Subscription Identifier never from a client in a PUBLISH
   [MQTT-3.3.4-6], and in a SUBSCRIBE only without a per-filter handler: a handler's is the
   client's). In 3.1.1 none. */
static int mqttc__app_props_ok(const mqttc_client *c, const mqttc_props *ps, int type, int may_name_sub_id) {
    size_t body;
    if (!MQTTC__HAS_V5) return 1; /* MQTTC_NO_MQTT5: the properties fields are not read */
    if (!MQTTC__V5(c) || (!ps->len && !ps->count)) return !ps->len && !ps->count;
    return mqttc__props_verify(ps, type, &body) == MQTTC_OK && !mqttc__props_find(ps, MQTTC_PROP_TOPIC_ALIAS, NULL) &&
           (may_name_sub_id || !mqttc__props_find(ps, MQTTC_PROP_SUBSCRIPTION_ID, NULL));
}

/* A packet of n bytes fits the broker's Maximum Packet Size [MQTT-3.2.2-15]. */
static int mqttc__fits(const mqttc_client *c, size_t n) {
    return !MQTTC__V5(c) || !c->limits.max_packet_size || n <= c->limits.max_packet_size;
}

/* MQTT 5 outgoing topic aliases (options.topic_alias_out): the alias a topic has (*is_new
   0), or the one it gets: the next unused, or the least recently used one's (*is_new 1).
   0: no alias (off, or the broker takes none [MQTT-3.2.2-17/18]). Nothing changes until
   mqttc__alias_commit. */
static unsigned short mqttc__alias_pick(mqttc_client *c, const mqttc_publish_info *pi, int *is_new) {
    unsigned slots = c->opt.topic_alias_out < c->limits.topic_alias_max ? c->opt.topic_alias_out : c->limits.topic_alias_max;
    *is_new = 0;
    if (!slots) return 0; /* the default: no search */
    mqttc__rec *r = mqttc__rec_find_data(&c->aliases_out, MQTTC__ALIAS_OUT, pi->topic, pi->topic_len), *lru = NULL;
    *is_new = !r;
    if (r) return r->packet_id;
    unsigned used = 0;
    for (size_t off = 0; (r = mqttc__rec_at(&c->aliases_out, off)) != NULL; off += r->size, used++)
        if (!lru || r->seq < lru->seq) lru = r;
    return used < slots ? (unsigned short)(used + 1) : lru->packet_id; /* never 0, never above [MQTT-3.3.2-8/9] */
}

/* The alias is in use from this PUBLISH on; 0 when the table could not take it (the
   message then goes with its topic alone). */
static unsigned short mqttc__alias_commit(mqttc_client *c, const mqttc_publish_info *pi, unsigned short alias,
                                          int is_new) {
    mqttc__rec *r = is_new ? mqttc__rec_put(&c->aliases_out, MQTTC__ALIAS_OUT, alias, pi->topic, pi->topic_len, 0)
                           : mqttc__rec_find(&c->aliases_out, MQTTC__ALIAS_OUT, alias);
    if (!r) return 0;
    r->seq = ++c->handler_seq; /* a rising counter: least recently used is the smallest */
    return alias;
}

/* The PUBLISH is encoded once: into the in-flight record that keeps it for a resend
   [MQTT-4.4.0-1] (QoS 1/2), and copied to the output. With a topic alias (MQTT 5) the
   output gets a second encoding, the alias instead of (or with) the topic; the record
   keeps the whole topic, as aliases die with the connection [MQTT-3.3.2-7]. */
/* A QoS 1/2 publish is held (queued: options.queue_bytes) rather than written when the
   client is not connected but will be, or the window is full, or others wait before it. */
static int mqttc__must_hold(const mqttc_client *c, const mqttc_publish_info *pi) {
    if (!MQTTC__HAS_RECONNECT || !c->opt.queue_bytes || !pi->qos) return 0;
    /* ending, or ended with no attempt to come: nothing would send it */
    if (c->state == MQTTC_STATE_DRAINING || c->state == MQTTC_STATE_DISCONNECTING) return 0;
    if (c->state == MQTTC_STATE_CLOSED && c->retry_ms < 0) return 0;
    return c->state != MQTTC_STATE_CONNECTED || c->held || c->outgoing_qos - c->held >= mqttc__window(c);
}

static int mqttc__publish_checks(mqttc_client *c, const mqttc_publish_info *pi, int *hold) {
    if (mqttc_topic_check(pi->topic, pi->topic_len) != MQTTC_OK) return mqttc__bad(c, "topic");
    if (pi->qos < 0 || pi->qos > 2) return mqttc__bad(c, "qos");
    if ((pi->payload_len && !pi->payload) || pi->payload_len > MQTTC__MAX_REMAINING - 4 - pi->topic_len)
        return mqttc__bad(c, "payload");
    if (!mqttc__app_props_ok(c, &pi->props, MQTTC_PUBLISH, 0) ||
        (MQTTC__V5(c) && (pi->props.len || pi->props.count) && mqttc__publish_check(pi, mqttc__version(c))))
        return mqttc__bad(c, "props");
    *hold = mqttc__must_hold(c, pi);
    if (*hold) return MQTTC_OK; /* checked against the limits when it goes */
    if (c->state != MQTTC_STATE_CONNECTED) return MQTTC_ERR_STATE; /* mqttc_error tells why it ended */
    if (MQTTC__V5(c) && pi->qos > c->limits.max_qos) return MQTTC_ERR_QOS;                  /* [MQTT-3.2.2-11] */
    if (MQTTC__V5(c) && pi->retain && !c->limits.retain_available) return MQTTC_ERR_UNSUPPORTED; /* [MQTT-3.2.2-14] */
    if (pi->qos && c->outgoing_qos >= mqttc__window(c)) return MQTTC_ERR_BUSY;
    return MQTTC_OK;
}

/* Room for n more bytes in the queue: the new one refused (MQTTC_ERR_QUEUEFULL), or with
   queue_drop_oldest the oldest never written dropped until it fits. */
static int mqttc__queue_room(mqttc_client *c, size_t n) {
    mqttc__rec *r;
    size_t off = c->fl.held_from; /* (none held before it) */
    if (n > c->opt.queue_bytes || (c->held_bytes + n > c->opt.queue_bytes && !c->opt.queue_drop_oldest))
        return MQTTC_ERR_QUEUEFULL;
    mqttc__fl_walk(c);
    while (c->held_bytes + n > c->opt.queue_bytes && (r = mqttc__rec_at(&c->inflight, off)) != NULL) {
        if ((r->flags & MQTTC__HELD) && !(r->flags & MQTTC__WRITTEN)) mqttc__drop_publish(c, off, MQTTC_ERR_QUEUEFULL);
        else off += r->size;
    }
    mqttc__fl_walked(c);
    return c->held_bytes + n > c->opt.queue_bytes ? MQTTC_ERR_QUEUEFULL : MQTTC_OK;
}

/* Holds a QoS 1/2 publish of n bytes: its id now, written when its turn comes (resend,
   release_held). Its record holds the whole topic, no alias. */
static int mqttc__hold(mqttc_client *c, mqttc_publish_info *pi, size_t n, size_t body, size_t wire) {
    int rc = mqttc__queue_room(c, n);
    if (rc == MQTTC_OK) rc = mqttc__next_id(c, &pi->packet_id);
    if (rc != MQTTC_OK) return rc;
    mqttc__rec *r = mqttc__fl_add(c, pi->qos == 1 ? MQTTC__AWAIT_PUBACK : MQTTC__AWAIT_PUBREC, pi->packet_id, n);
    if (!r) return MQTTC_ERR_QUEUEFULL;
    mqttc__put_publish(mqttc__rec_data(r), n, pi, body, wire, &n);
    int earlier = c->store_failed; /* (a failure before this put still ends the step) */
    if (mqttc__store_publish(c, r, 0) != MQTTC_OK) {
        c->store_failed = earlier; /* this one is told to the caller: the message is not taken */
        mqttc__fl_remove(c, r);
        return MQTTC_ERR_STORE;
    }
    r->flags = MQTTC__HELD;
    c->held++;
    c->held_bytes += n;
    c->outgoing_qos++;
    return MQTTC_OK;
}

static int mqttc__publish(mqttc_client *c, const mqttc_publish_info *in, unsigned short *packet_id) {
    mqttc_publish_info pi = *in, out;
    unsigned char alias_prop[3];
    size_t n, n_out, body = 0, wire = 0, out_body = 0, out_wire = 0;
    int rc, is_new = 0, hold = 0;
    pi.dup = 0;
    pi.packet_id = 0;
    if ((rc = mqttc__publish_checks(c, &pi, &hold)) != MQTTC_OK) return rc;
    if (MQTTC__V5(c) && !pi.props.len && !pi.props.count) wire = 1; /* none: their length byte, 0 */
    else if (MQTTC__V5(c)) mqttc__props_for(&pi.props, mqttc__version(c), MQTTC_PUBLISH, &body, &wire); /* checked */
    n = n_out = mqttc__publish_size(&pi, wire);
    if (hold) {
        if ((rc = mqttc__hold(c, &pi, n, body, wire)) == MQTTC_OK && packet_id) *packet_id = pi.packet_id;
        return rc;
    }
    unsigned short alias = MQTTC__V5(c) && !pi.props.len ? mqttc__alias_pick(c, &pi, &is_new) : 0;
    if (alias) { /* the output's copy: the alias first among the properties, the topic only when new */
        out = pi;
        alias_prop[0] = MQTTC_PROP_TOPIC_ALIAS;
        mqttc__put16(alias_prop + 1, alias);
        out.props.ptr = alias_prop;
        out.props.len = sizeof alias_prop;
        if (!is_new) out.topic_len = 0;
        mqttc__props_for(&out.props, mqttc__version(c), MQTTC_PUBLISH, &out_body, &out_wire);
        n_out = mqttc__publish_size(&out, out_wire);
    }
    if (!mqttc__fits(c, n) || !mqttc__fits(c, n_out)) return MQTTC_ERR_TOOLARGE;
    rc = pi.qos ? mqttc__next_id(c, &pi.packet_id) : MQTTC_OK;
    if (rc != MQTTC_OK) return rc;
    out.packet_id = pi.packet_id;
    unsigned char *p = mqttc__tx_space(c, n > n_out ? n : n_out, 0, &rc);
    if (!p) return rc;
    mqttc__rec *r = NULL;
    if (pi.qos) {
        r = mqttc__fl_add(c, pi.qos == 1 ? MQTTC__AWAIT_PUBACK : MQTTC__AWAIT_PUBREC, pi.packet_id, n);
        if (!r) return MQTTC_ERR_BUSY;
        mqttc__put_publish(mqttc__rec_data(r), n, &pi, body, wire, &n);
        int earlier = c->store_failed; /* (a failure before this put still ends the step) */
        if (mqttc__store_publish(c, r, 1) != MQTTC_OK) {
            c->store_failed = earlier; /* this one is told to the caller: the message is not taken */
            mqttc__fl_remove(c, r);
            return MQTTC_ERR_STORE;
        }
        r->flags = MQTTC__WRITTEN;
        c->outgoing_qos++;
    }
    if (alias && mqttc__alias_commit(c, &pi, alias, is_new)) mqttc__put_publish(p, n_out, &out, out_body, out_wire, &n);
    else if (r) memcpy(p, mqttc__rec_data(r), n);
    else mqttc__put_publish(p, n, &pi, body, wire, &n);
    (void)mqttc__queued(c, n); /* accepted: a failed write-through is the step's to report */
    if (packet_id) *packet_id = pi.packet_id;
    return MQTTC_OK;
}

MQTTC_DEF int mqttc_publish_with(mqttc_client *c, const mqttc_publish_info *pi, unsigned short *packet_id) {
    if (packet_id) *packet_id = 0;
    if (!pi) return mqttc__bad(c, "info");
    mqttc__lock(c);
    int rc = mqttc__publish(c, pi, packet_id);
    mqttc__tell_status(c);
    mqttc__unlock(c);
    return rc;
}

MQTTC_DEF int mqttc_publish(mqttc_client *c, const char *topic, const void *payload, size_t len, int qos,
                            int retain, unsigned short *packet_id) {
    mqttc_publish_info pi;
    memset(&pi, 0, sizeof pi);
    pi.topic = topic;
    pi.topic_len = topic ? strlen(topic) : 0;
    pi.payload = payload;
    pi.payload_len = len;
    pi.qos = qos;
    pi.retain = retain;
    return mqttc_publish_with(c, &pi, packet_id);
}

/* SUBSCRIBE and UNSUBSCRIBE share everything but the packet: the encoder writes it, a
   record waits for the answer (holding the filters, each after its 2-byte length, to find
   their handlers again), and for SUBSCRIBE the handlers are set. */
typedef struct mqttc__req {
    int kind;                    /* MQTTC__AWAIT_SUBACK or MQTTC__AWAIT_UNSUBACK */
    mqttc_subscribe_info info;
    mqttc__cb cb;
    mqttc_message_fn on_message; /* SUBSCRIBE only */
    void *user;
} mqttc__req;

/* The filters and QoS are the caller's to get right: named in mqttc_bad_arg. */
static int mqttc__req_check(mqttc_client *c, const mqttc__req *q, size_t *filters_len) {
    const mqttc_subscribe_info *si = &q->info;
    int is_sub = q->kind == MQTTC__AWAIT_SUBACK;
    *filters_len = 0;
    if (!si->filters || si->count == 0 || si->count > 65535u) return mqttc__bad(c, "filters"); /* [MQTT-3.8.3-3] */
    if (is_sub && !si->options) return mqttc__bad(c, "qos");
    for (size_t i = 0; i < si->count; i++) {
        const char *f = si->filters[i];
        size_t len = f ? strlen(f) : 0;
        if (mqttc_filter_check(f, len) != MQTTC_OK || (MQTTC__V5(c) && !mqttc__shared_ok(f, len)))
            return mqttc__bad(c, "filter");
        if (is_sub && !mqttc__sub_options_ok(si->options[i], mqttc__version(c), f, len))
            return mqttc__bad(c, si->options[i] > 2 && !MQTTC__V5(c) ? "qos" : "options");
        *filters_len += 2 + len;
    }
    if (!mqttc__app_props_ok(c, &si->props, is_sub ? MQTTC_SUBSCRIBE : MQTTC_UNSUBSCRIBE, is_sub && !q->on_message))
        return mqttc__bad(c, "props");
    return MQTTC_OK;
}

/* MQTT 5: filters the broker said it does not take (CONNACK) are refused here, not sent:
   wildcards [MQTT-3.2.2.3.11], shared subscriptions [MQTT-3.2.2.3.13]. */
static int mqttc__req_supported(const mqttc_client *c, const mqttc__req *q) {
    for (size_t i = 0; MQTTC__V5(c) && q->kind == MQTTC__AWAIT_SUBACK && i < q->info.count; i++) {
        const char *f = q->info.filters[i];
        if (!c->limits.wildcard_available && strpbrk(f, "+#")) return MQTTC_ERR_UNSUPPORTED;
        if (!c->limits.shared_available && strncmp(f, "$share/", 7) == 0) return MQTTC_ERR_UNSUPPORTED;
    }
    return MQTTC_OK;
}

/* A subscription, set anew (so it is last in seq order): its filter, its options (to make it
   again after a lost session) and its handler (NULL: options.on_message takes its messages). */
static int mqttc__set_handler(mqttc_client *c, mqttc_str f, mqttc_message_fn fn, void *user, uint32_t sub_id,
                              unsigned options) {
    mqttc__rec *h = mqttc__handler_find(&c->subs, f.ptr, f.len);
    if (h) mqttc__rec_remove(&c->subs, h);
    h = mqttc__rec_add(&c->subs, MQTTC__HANDLER, (unsigned short)options, f.len);
    if (!h) return MQTTC_ERR_BUSY;
    memcpy(mqttc__rec_data(h), f.ptr, f.len);
    h->cb.message = fn;
    h->user = user;
    h->seq = ++c->handler_seq;
    h->sub_id = sub_id;
    return MQTTC_OK;
}

static int mqttc__encode_request(const mqttc_client *c, const mqttc__req *q, unsigned char *buf, size_t cap,
                                 size_t *n) {
    if (q->kind == MQTTC__AWAIT_SUBACK) return mqttc_encode_subscribe(buf, cap, mqttc__version(c), &q->info, n);
    return mqttc_encode_unsubscribe(buf, cap, mqttc__version(c), &q->info, n);
}

/* MQTT 5: a SUBSCRIBE with a handler gets the next subscription identifier, when the broker
   takes them and the application gave no raw property bytes (its list is kept). Without a
   handler the application may name one itself (its messages go to options.on_message). */
static uint32_t mqttc__sub_id(mqttc_client *c, mqttc__req *q, unsigned char *raw) {
    if (!MQTTC__V5(c) || q->kind != MQTTC__AWAIT_SUBACK || !q->on_message || !c->limits.sub_id_available ||
        q->info.props.len)
        return 0;
    uint32_t id = c->sub_id_seq = c->sub_id_seq >= MQTTC__MAX_REMAINING ? 1u : c->sub_id_seq + 1u;
    raw[0] = MQTTC_PROP_SUBSCRIPTION_ID;
    q->info.props.ptr = raw;
    q->info.props.len = (size_t)(mqttc__put_varint(raw + 1, id) - raw);
    return id;
}

static int mqttc__request(mqttc_client *c, mqttc__req *q, unsigned short *packet_id) {
    unsigned char raw[5];
    size_t flen, n = 0;
    int rc;
    if (packet_id) *packet_id = 0;
    if ((rc = mqttc__req_check(c, q, &flen)) != MQTTC_OK) return rc;
    if (c->state != MQTTC_STATE_CONNECTED) return MQTTC_ERR_STATE;
    if ((rc = mqttc__req_supported(c, q)) != MQTTC_OK) return rc;
    uint32_t sub_id = mqttc__sub_id(c, q, raw);
    rc = mqttc__next_id(c, &q->info.packet_id);
    if (rc == MQTTC_OK) rc = mqttc__encode_request(c, q, NULL, 0, &n);
    if (rc != MQTTC_ERR_NOSPACE) return rc == MQTTC_OK ? MQTTC_ERR_ARG : rc == MQTTC_ERR_ARG ? mqttc__bad(c, "filters") : rc;
    if (!mqttc__fits(c, n)) return MQTTC_ERR_TOOLARGE;
    unsigned char *p = mqttc__tx_space(c, n, 0, &rc);
    if (!p) return rc;
    mqttc__rec *r = mqttc__fl_add(c, q->kind, q->info.packet_id, flen);
    if (!r) return MQTTC_ERR_BUSY;
    unsigned char *d = mqttc__rec_data(r);
    for (size_t i = 0; i < q->info.count; i++) {
        mqttc_str f = {q->info.filters[i], strlen(q->info.filters[i])};
        d = mqttc__put_str(d, f);
    }
    r->cb = q->cb;
    r->user = q->user;
    for (size_t i = 0; q->kind == MQTTC__AWAIT_SUBACK && i < q->info.count; i++) {
        mqttc_str f = {q->info.filters[i], strlen(q->info.filters[i])};
        if (mqttc__set_handler(c, f, q->on_message, q->user, sub_id, q->info.options[i]) != MQTTC_OK) {
            mqttc__fl_remove(c, mqttc__fl_find(c, q->kind, q->info.packet_id));
            return MQTTC_ERR_BUSY;
        }
    }
    mqttc__encode_request(c, q, p, n, &n);
    if (packet_id) *packet_id = q->info.packet_id;
    mqttc_packet traced, *t = mqttc__trace_packet(c, &traced, q->kind == MQTTC__AWAIT_SUBACK ? MQTTC_SUBSCRIBE : MQTTC_UNSUBSCRIBE);
    if (t) { /* the filter list ends the packet: mqttc_next_filter reads it there */
        t->subscribe = q->info;
        t->subscribe.type = t->type;
        t->subscribe.list_len = flen + (q->kind == MQTTC__AWAIT_SUBACK ? q->info.count : 0);
        t->subscribe.list = p + n - t->subscribe.list_len;
    }
    (void)mqttc__queued_as(c, n, t); /* accepted, as a publish is */
    return MQTTC_OK;
}

/* The verbs' common part: the request from its info, made under the lock. */
static int mqttc__request_locked(mqttc_client *c, int kind, const mqttc_subscribe_info *si, mqttc__cb cb,
                                 mqttc_message_fn on_message, void *user, unsigned short *packet_id) {
    mqttc__req q;
    memset(&q, 0, sizeof q);
    q.kind = kind;
    if (si) q.info = *si;
    q.cb = cb;
    q.on_message = on_message;
    q.user = user;
    mqttc__lock(c);
    int rc = mqttc__request(c, &q, packet_id);
    mqttc__tell_status(c);
    mqttc__unlock(c);
    return rc;
}

/* A request's info from its pieces. */
static mqttc_subscribe_info mqttc__filters_info(const char *const *filters, const unsigned char *qos, size_t count) {
    mqttc_subscribe_info si;
    memset(&si, 0, sizeof si);
    si.filters = filters;
    si.options = qos;
    si.count = count;
    return si;
}

MQTTC_DEF int mqttc_subscribe_with(mqttc_client *c, const mqttc_subscribe_info *si, mqttc_suback_fn on_suback,
                                   mqttc_message_fn on_message, void *user, unsigned short *packet_id) {
    mqttc__cb cb;
    cb.suback = on_suback;
    if (packet_id) *packet_id = 0;
    if (!si) return mqttc__bad(c, "info");
    return mqttc__request_locked(c, MQTTC__AWAIT_SUBACK, si, cb, on_message, user, packet_id);
}

MQTTC_DEF int mqttc_unsubscribe_with(mqttc_client *c, const mqttc_subscribe_info *si, mqttc_unsuback_fn on_unsuback,
                                     void *user, unsigned short *packet_id) {
    mqttc__cb cb;
    cb.unsuback = on_unsuback;
    if (packet_id) *packet_id = 0;
    if (!si) return mqttc__bad(c, "info");
    return mqttc__request_locked(c, MQTTC__AWAIT_UNSUBACK, si, cb, NULL, user, packet_id);
}

MQTTC_DEF int mqttc_subscribe_many(mqttc_client *c, const char *const *filters, const unsigned char *qos,
                                   size_t count, mqttc_suback_fn on_suback, mqttc_message_fn on_message, void *user,
                                   unsigned short *packet_id) {
    mqttc_subscribe_info si = mqttc__filters_info(filters, qos, count);
    return mqttc_subscribe_with(c, &si, on_suback, on_message, user, packet_id);
}

MQTTC_DEF int mqttc_subscribe(mqttc_client *c, const char *filter, int qos, mqttc_suback_fn on_suback,
                              mqttc_message_fn on_message, void *user, unsigned short *packet_id) {
    unsigned char q = (unsigned char)(qos < 0 || qos > 2 ? 3 : qos);
    return mqttc_subscribe_many(c, &filter, &q, 1, on_suback, on_message, user, packet_id);
}

MQTTC_DEF int mqttc_unsubscribe_many(mqttc_client *c, const char *const *filters, size_t count,
                                     mqttc_unsuback_fn on_unsuback, void *user, unsigned short *packet_id) {
    mqttc_subscribe_info si = mqttc__filters_info(filters, NULL, count);
    return mqttc_unsubscribe_with(c, &si, on_unsuback, user, packet_id);
}

MQTTC_DEF int mqttc_unsubscribe(mqttc_client *c, const char *filter, mqttc_unsuback_fn on_unsuback, void *user,
                                unsigned short *packet_id) {
    return mqttc_unsubscribe_many(c, &filter, 1, on_unsuback, user, packet_id);
}

/* ---- starting a connection ---- */

/* A connect call of the user's: a new story for staying connected (section 12): how to dial
   again, the counters from zero. */
static void mqttc__new_dial(mqttc_client *c, int how) {
    c->dial = how;
    c->was_up = 0;
    c->attempt = c->flaps = c->target = 0;
}

static int mqttc__start_locked(mqttc_client *c, const mqttc_transport *t, const mqttc__endpoint *ep,
                               int is_connected, uint64_t now_ms) {
    mqttc__lock(c);
    if (MQTTC__HAS_RECONNECT && !mqttc__is_open(c))
        mqttc__new_dial(c, ep->host ? 1 : c->opt.reconnect_transport ? 2 : 0);
    int rc = mqttc__start(c, t, ep, is_connected, now_ms);
    mqttc__tell_status(c);
    mqttc__unlock(c);
    return rc;
}

MQTTC_DEF int mqttc_start_transport(mqttc_client *c, const mqttc_transport *t, uint64_t now_ms) {
    if (!t || !t->send || !t->recv) return mqttc__bad(c, "transport");
    mqttc__endpoint ep = mqttc__given_endpoint(c);
    return mqttc__start_locked(c, t, &ep, 1, now_ms);
}

#ifndef MQTTC_NO_SOCKETS
/* Keeps what to dial again (section 12), opens TCP to the next hop and starts the
   connection to ep. A dial that fails at once (resolving, no address) is a failed connect. */
static int mqttc__connect_to(mqttc_client *c, const char *spec, int port, mqttc__endpoint *ep, uint64_t now_ms) {
    mqttc_transport t;
    if (MQTTC__HAS_RECONNECT) { /* the broker to dial again: kept in the subs pool */
        mqttc__lock(c);
        mqttc__rec *kept = mqttc__rec_put(&c->subs, MQTTC__TARGET, (unsigned short)port, spec, strlen(spec), 1);
        mqttc__unlock(c);
        if (!kept) return MQTTC_ERR_NOMEM;
    }
    int rc = mqttc__open_hop(c, ep, &t);
    if (rc == MQTTC_OK) {
        rc = mqttc__start_locked(c, &t, ep, 0, now_ms);
        if (rc == MQTTC_ERR_STATE) t.close(&t); /* another thread connected meanwhile: ours goes */
        return rc;
    }
    mqttc__lock(c);
    if (MQTTC__HAS_RECONNECT) mqttc__new_dial(c, 1);
    if (mqttc__begin_connection(c, now_ms) == MQTTC_OK) rc = mqttc__fail(c, rc);
    mqttc__tell_status(c);
    mqttc__unlock(c);
    return rc;
}

/* The host-and-port call: the stages as the options say. */
MQTTC_DEF int mqttc_connect_start(mqttc_client *c, const char *host, int port, uint64_t now_ms) {
    if (!host) return mqttc__bad(c, "host");
    if (port < 0 || port > 65535) return mqttc__bad(c, "port");
    if (mqttc__is_open(c)) return MQTTC_ERR_STATE;
    mqttc__endpoint ep = mqttc__given_endpoint(c);
    ep.host = host;
    ep.port = port ? port : mqttc__default_port(ep.secure, ep.ws_path != NULL);
    return mqttc__connect_to(c, host, ep.port, &ep, now_ms);
}

MQTTC_DEF int mqttc_connect_url(mqttc_client *c, const char *url, uint64_t now_ms) {
    mqttc__endpoint ep;
    char host[256];
    if (!url || strlen(url) >= MQTTC__URL_MAX) return mqttc__bad(c, "url");
    if (mqttc__is_open(c)) return MQTTC_ERR_STATE;
    mqttc__lock(c);
    int rc = mqttc__url_endpoint(c, url, &ep, host);
    mqttc__unlock(c);
    if (rc == MQTTC_ERR_ARG) return mqttc__bad(c, "url");
    return rc == MQTTC_OK ? mqttc__connect_to(c, url, 0, &ep, now_ms) : rc;
}

MQTTC_DEF int mqttc_tcp_transport(mqttc_transport *t, int fd) {
    if (!t || fd < 0) return MQTTC_ERR_ARG;
    return mqttc__tcp_adopt(t, fd);
}

MQTTC_DEF int mqttc_adopt_fd(mqttc_client *c, int fd, uint64_t now_ms) {
    mqttc_transport t;
    if (fd < 0) return mqttc__bad(c, "fd");
    int rc = mqttc__tcp_adopt(&t, fd);
    mqttc__endpoint ep = mqttc__given_endpoint(c);
    return rc == MQTTC_OK ? mqttc__start_locked(c, &t, &ep, 1, now_ms) : rc;
}
#endif

/* The graceful end (see the declaration): DRAINING while QoS 1/2 flows are open, then
   DISCONNECT [MQTT-3.14.4-1]; nothing is sent after it [MQTT-3.14.4-2]. The close is left to
   the next step, so a poll loop always sees the end through step (mqttc_timeout_ms is 0). */
MQTTC_DEF int mqttc_disconnect(mqttc_client *c) {
    int rc = MQTTC_OK;
    mqttc__lock(c);
    if (c->state == MQTTC_STATE_CONNECTED && (c->outgoing_qos || c->incoming_qos2)) {
        mqttc__set_state(c, MQTTC_STATE_DRAINING);
        c->connect_deadline_ms = c->now_ms + c->opt.disconnect_timeout_ms;
        mqttc__wake(c);
    } else if (c->state == MQTTC_STATE_CONNECTED || c->state == MQTTC_STATE_DRAINING) {
        rc = mqttc__send_disconnect(c); /* again while draining: stop waiting, DISCONNECT now */
    } else if ((c->state < MQTTC_STATE_CONNECTED && mqttc__is_open(c)) || c->state == MQTTC_STATE_WAITING) {
        mqttc__fail(c, MQTTC_ERR_DISCONNECT); /* (waiting to dial again: stop) */
    } else if (!mqttc__is_open(c)) {
        rc = MQTTC_ERR_STATE;
    }
    mqttc__tell_status(c);
    mqttc__unlock(c);
    return rc;
}

/* MQTT 5: the DISCONNECT with a reason is encoded now (so the properties are only borrowed
   for the call) and kept until the drain is over. */
static int mqttc__keep_disconnect(mqttc_client *c, const mqttc_disconnect_info *di) {
    mqttc_prop pr;
    size_t n;
    if (!MQTTC__V5(c)) return mqttc__bad(c, "info");
    if (mqttc__props_find(&di->props, MQTTC_PROP_SESSION_EXPIRY, &pr) && pr.value && !c->opt.session_expiry_s)
        return mqttc__bad(c, "props"); /* no session to keep when CONNECT said 0 [MQTT-3.14.2-2] */
    if (mqttc_encode_disconnect(NULL, 0, mqttc__version(c), di, &n) != MQTTC_ERR_NOSPACE) return mqttc__bad(c, "info");
    if (!mqttc__fits(c, n)) return MQTTC_ERR_TOOLARGE;
    mqttc__rec *r = mqttc__fl_add(c, MQTTC__DISCONNECT_OUT, 0, n);
    if (!r) return MQTTC_ERR_NOMEM;
    mqttc_encode_disconnect(mqttc__rec_data(r), n, mqttc__version(c), di, &n);
    return MQTTC_OK;
}

MQTTC_DEF int mqttc_disconnect_with(mqttc_client *c, const mqttc_disconnect_info *di) {
    if (!di || (!di->reason_code && !di->props.len && !di->props.count) ||
        (c->state != MQTTC_STATE_CONNECTED && c->state != MQTTC_STATE_DRAINING))
        return mqttc_disconnect(c); /* (no connection to tell the reason: connecting or waiting) */
    mqttc__lock(c);
    int rc = c->state == MQTTC_STATE_CONNECTED || c->state == MQTTC_STATE_DRAINING ? MQTTC_OK : MQTTC_ERR_STATE;
    if (rc == MQTTC_OK) {
        mqttc__fl_drop(c, 1u << MQTTC__DISCONNECT_OUT);
        rc = mqttc__keep_disconnect(c, di);
    }
    mqttc__unlock(c);
    return rc == MQTTC_OK ? mqttc_disconnect(c) : rc;
}

#ifndef MQTTC_NO_MQTT5
MQTTC_DEF int mqttc_reauthenticate(mqttc_client *c, const void *data, size_t len) {
    mqttc_str d = {data ? (const char *)data : "", len};
    mqttc__lock(c);
    int rc = MQTTC__V5(c) && c->state == MQTTC_STATE_CONNECTED && mqttc__auth_method(c).ptr ? MQTTC_OK : MQTTC_ERR_STATE;
    if (rc == MQTTC_OK && len > 65535u) rc = mqttc__bad(c, "len");
    if (rc == MQTTC_OK) rc = mqttc__send_auth(c, MQTTC_RC_REAUTHENTICATE, d); /* [MQTT-4.12.1-1] */
    mqttc__tell_status(c);
    mqttc__unlock(c);
    return rc;
}
#endif

MQTTC_DEF void mqttc_pause(mqttc_client *c, int is_paused) {
    mqttc__lock(c);
    if (c->is_paused && !is_paused && c->ping_outstanding) c->ping_sent_ms = c->now_ms; /* wait anew */
    c->is_paused = is_paused != 0;
    if (!is_paused) mqttc__wake(c);
    mqttc__unlock(c);
}

MQTTC_DEF void mqttc_cork(mqttc_client *c, int is_corked) {
    mqttc__lock(c);
    c->is_corked = is_corked;
    if (!is_corked && !c->in_dispatch) (void)mqttc__flush(c);
    mqttc__tell_status(c);
    mqttc__unlock(c);
}

MQTTC_DEF int mqttc_flush(mqttc_client *c) {
    mqttc__lock(c);
    int rc = mqttc__is_open(c) ? mqttc__flush(c) : (c->error ? c->error : MQTTC_ERR_STATE);
    if (rc == MQTTC_OK && !c->in_dispatch) rc = mqttc__finish_disconnect(c);
    mqttc__tell_status(c);
    mqttc__unlock(c);
    return rc == MQTTC_ERR_DISCONNECT ? MQTTC_OK : rc;
}

MQTTC_DEF void mqttc_set_retry(mqttc_client *c, long ms) {
    mqttc__lock(c);
    c->retry_ms = ms < 0 ? -1 : ms;
    if (c->state == MQTTC_STATE_WAITING && ms >= 0) c->retry_at_ms = c->now_ms + (uint64_t)ms;
    else if (c->state == MQTTC_STATE_WAITING) mqttc__set_state(c, MQTTC_STATE_CLOSED);
    mqttc__wake(c);
    mqttc__unlock(c);
}

MQTTC_DEF unsigned mqttc_queued(const mqttc_client *c) { return c->held; }
MQTTC_DEF int mqttc_state(const mqttc_client *c) { return c->state; }
MQTTC_DEF int mqttc_error(const mqttc_client *c) { return c->error; }
MQTTC_DEF unsigned mqttc_inflight(const mqttc_client *c) { return c->outgoing_qos; }
MQTTC_DEF unsigned mqttc_inflight_in(const mqttc_client *c) { return c->incoming_qos2; }
MQTTC_DEF int mqttc_session_present(const mqttc_client *c) { return c->session_present; }
MQTTC_DEF size_t mqttc_pending_output(const mqttc_client *c) { return c->tx.len; }
MQTTC_DEF const char *mqttc_bad_arg(const mqttc_client *c) { return c->bad_arg ? c->bad_arg : ""; }
MQTTC_DEF int mqttc_sys_errno(const mqttc_client *c) { return c->sys_errno; }

MQTTC_DEF const char *mqttc_error_detail(const mqttc_client *c) { return c->detail ? c->detail : ""; }
MQTTC_DEF int mqttc_reason_code(const mqttc_client *c) { return c->reason_code; }
MQTTC_DEF const char *mqttc_client_id(const mqttc_client *c) {
    const char *assigned = mqttc__assigned_id(c);
    return assigned ? assigned : c->opt.client_id;
}
#ifndef MQTTC_NO_MQTT5
MQTTC_DEF const mqttc_limits *mqttc_server_limits(const mqttc_client *c) { return &c->limits; }
#endif

/* ---- set up and tear down ---- */

/* A random id of 23 characters from [0-9a-zA-Z], the set every 3.1.1 broker must accept
   [MQTT-3.1.3-5]. No global state: the seed mixes the client's address, a stack address
   and the time (splitmix64). */
static void mqttc__random_id(mqttc_client *c, uint64_t seed) {
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    uint64_t x = seed ^ (uint64_t)(uintptr_t)c ^ ((uint64_t)(uintptr_t)&seed << 17);
    memcpy(c->id, "mqttc", 5); /* no '-': only [0-9a-zA-Z] is valid everywhere */
    for (int i = 5; i < 23; i++) {
        uint64_t z = (x += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        c->id[i] = digits[(z ^ (z >> 31)) % 62u];
    }
    c->id[23] = '\0';
}

/* The will and login rules, shared by the options and the setters: the name of the field
   that breaks one, or NULL. */
static const char *mqttc__will_bad(const char *topic, const void *payload, size_t len, int qos, int retain) {
    if (!topic) return qos || retain || len ? "options.will_topic" : NULL; /* [MQTT-3.1.2-13/15] */
    if (mqttc_topic_check(topic, strlen(topic)) != MQTTC_OK) return "options.will_topic";
    if (len && (!payload || len > 65535u)) return "options.will_payload";
    if (qos < 0 || qos > 2) return "options.will_qos";
    return NULL;
}

static const char *mqttc__login_bad(const char *username, const void *password, size_t len, int version) {
    if (password && !username && !mqttc__is_v5(version)) return "options.password"; /* [MQTT-3.1.2-22] */
    if (len > 65535u || (len && !password)) return "options.password_len";
    if (username && mqttc_utf8_check(username, strlen(username)) != MQTTC_OK) return "options.username";
    return NULL;
}

/* The options' own rules, checked before anything is sent: the bad field's name, or NULL. */
static const char *mqttc__options_bad(const mqttc_options *o) {
    const char *bad = mqttc__login_bad(o->username, o->password, o->password_len, o->protocol_version);
    if (!bad) bad = mqttc__will_bad(o->will_topic, o->will_payload, o->will_payload_len, o->will_qos, o->will_retain);
    if (bad) return bad;
    if (o->keepalive_s > 65535u) return "options.keepalive_s";
    if (o->client_id && (strlen(o->client_id) > 65535u || mqttc_utf8_check(o->client_id, strlen(o->client_id))))
        return "options.client_id";
    if (o->client_id && !o->client_id[0] && o->no_clean_session && !mqttc__is_v5(o->protocol_version))
        return "options.no_clean_session"; /* [MQTT-3.1.3-7]; an MQTT 5 broker assigns an id instead */
    if (o->mem && o->mem_size < 4096) return "options.mem_size";
    if (o->store && (!MQTTC__HAS_STORE || !o->store->put || !o->store->remove || !o->store->load))
        return "options.store"; /* (built without it, or a call missing) */
    return mqttc__chain_options_bad(o);
}

/* The MQTT 5 options: only with protocol_version 5; properties valid where they go, and
   none of those the fields set (the client owns them). */
static const char *mqttc__v5_options_bad(const mqttc_options *o) {
    size_t body;
    mqttc_prop pr;
    int v5 = mqttc__is_v5(o->protocol_version);
    if (o->protocol_version && o->protocol_version != MQTTC_PROTOCOL_311 && !v5) return "options.protocol_version";
    if (!MQTTC__HAS_V5) return NULL; /* MQTTC_NO_MQTT5: the MQTT 5 fields are not read */
    if (!v5 && (o->session_expiry_s || o->topic_alias_in || o->topic_alias_out || o->on_auth))
        return "options.protocol_version"; /* an MQTT 5 option without MQTT 5 */
    if (!v5 && (o->connect_props.len || o->connect_props.count)) return "options.connect_props";
    if (!v5 && (o->will_props.len || o->will_props.count)) return "options.will_props";
    if (o->topic_alias_in > 65535u) return "options.topic_alias_in";
    if (o->topic_alias_out > 65535u) return "options.topic_alias_out";
    if (!v5) return NULL;
    if (mqttc__props_verify(&o->connect_props, MQTTC_CONNECT, &body) != MQTTC_OK ||
        mqttc__props_find(&o->connect_props, MQTTC_PROP_SESSION_EXPIRY, NULL) ||
        mqttc__props_find(&o->connect_props, MQTTC_PROP_RECEIVE_MAX, NULL) ||
        mqttc__props_find(&o->connect_props, MQTTC_PROP_MAX_PACKET_SIZE, NULL) ||
        mqttc__props_find(&o->connect_props, MQTTC_PROP_TOPIC_ALIAS_MAX, NULL))
        return "options.connect_props";
    if (mqttc__props_verify(&o->will_props, 0, &body) != MQTTC_OK || ((o->will_props.len || o->will_props.count) && !o->will_topic))
        return "options.will_props";
    if (mqttc__props_find(&o->will_props, MQTTC_PROP_PAYLOAD_FORMAT, &pr) && pr.value == 1 &&
        mqttc_utf8_check((const char *)o->will_payload, o->will_payload_len))
        return "options.will_payload"; /* it says it is UTF-8 */
    return NULL;
}

/* One function patches the defaults into all-zero fields. */
static void mqttc__options_defaults(mqttc_options *o) {
    if (o->no_keepalive) o->keepalive_s = 0;
    else if (o->keepalive_s == 0) o->keepalive_s = 60;
    if (o->ping_timeout_ms == 0 || o->ping_timeout_ms > o->keepalive_s * 1000u) o->ping_timeout_ms = o->keepalive_s * 1000u;
    if (o->connect_timeout_ms == 0) o->connect_timeout_ms = 30000;
    if (o->disconnect_timeout_ms == 0) o->disconnect_timeout_ms = 10000;
    if (o->max_packet_size == 0) o->max_packet_size = MQTTC_DEFAULT_MAX_PACKET;
    if (o->max_packet_size > MQTTC__MAX_REMAINING + 5u) o->max_packet_size = MQTTC__MAX_REMAINING + 5u;
    if (o->max_inflight == 0 || o->max_inflight > 65535u) o->max_inflight = o->max_inflight ? 65535u : MQTTC_DEFAULT_MAX_INFLIGHT;
    if (o->max_inflight_in == 0 || o->max_inflight_in > 65535u) o->max_inflight_in = 65535u;
    if (o->max_output == 0) o->max_output = 64u * 1024u;
    if (o->reconnect_max_ms == 0) o->reconnect_max_ms = 60000;
    if (o->reconnect_max_ms < o->reconnect_min_ms) o->reconnect_max_ms = o->reconnect_min_ms;
    if (o->reconnect_reset_ms == 0) o->reconnect_reset_ms = 30000;
}

/* Caller memory: four aligned quarters, for rx, tx, in-flight records and handlers. */
static void mqttc__carve(mqttc_client *c) {
    unsigned char *base = (unsigned char *)c->opt.mem;
    size_t skew = (size_t)(-(uintptr_t)base & (MQTTC__ALIGN - 1));
    size_t quarter = ((c->opt.mem_size - skew) / 4) & ~(size_t)(MQTTC__ALIGN - 1);
    if (quarter > MQTTC__BUF_MAX) quarter = MQTTC__BUF_MAX & ~(size_t)(MQTTC__ALIGN - 1);
    mqttc__buf *bufs[4] = {&c->rx, &c->tx, &c->inflight, &c->subs};
    for (int i = 0; i < 4; i++) {
        bufs[i]->p = base + skew + (size_t)i * quarter;
        bufs[i]->cap = bufs[i]->max = (uint32_t)quarter;
        bufs[i]->is_fixed = 1;
    }
    if (MQTTC__V5(c)) { /* MQTT 5: the handlers' quarter is shared: 1/2 handlers, 1/4 peer, 1/4 aliases */
        size_t part = (quarter / 4) & ~(size_t)(MQTTC__ALIGN - 1);
        c->subs.cap = c->subs.max = (uint32_t)(quarter - 2 * part);
        c->peer = c->aliases_out = c->subs;
        c->peer.p = c->subs.p + c->subs.cap;
        c->aliases_out.p = c->peer.p + part;
        c->peer.cap = c->peer.max = c->aliases_out.cap = c->aliases_out.max = (uint32_t)part;
    }
    if (c->opt.max_output > quarter) c->opt.max_output = quarter;
}

MQTTC_DEF int mqttc_init(mqttc_client *c, const mqttc_options *o) {
    memset(c, 0, sizeof *c);
    if (o) c->opt = *o;
    c->tr.fd = -1;
    c->wake_fd[0] = c->wake_fd[1] = -1;
    const char *bad = mqttc__options_bad(&c->opt);
    if (!bad) bad = mqttc__v5_options_bad(&c->opt);
    if (bad) return mqttc__bad(c, bad);
    mqttc__options_defaults(&c->opt);
    uint64_t seed = MQTTC__HAS_RECONNECT ? (uint64_t)(uintptr_t)o ^ mqttc__id_entropy() ^ (uint64_t)(uintptr_t)c : 1;
    c->rng = c->opt.random_seed ? c->opt.random_seed : (uint32_t)(seed ^ (seed >> 32)) | 1u; /* never 0 */
    if (!c->opt.client_id) {
        mqttc__random_id(c, (uint64_t)(uintptr_t)o ^ mqttc__id_entropy());
        c->opt.client_id = c->id;
    }
    if (MQTTC__HAS_V5) mqttc__limits_reset(c);
    if (c->opt.mem) {
        mqttc__carve(c);
    } else {
        c->rx.max = (uint32_t)(c->opt.max_packet_size + 1024u); /* a whole packet and read-ahead */
        c->tx.max = c->inflight.max = c->subs.max = MQTTC__BUF_MAX;
        if (MQTTC__HAS_V5) c->peer.max = c->aliases_out.max = MQTTC__BUF_MAX;
    }
    if (MQTTC__HAS_STORE && c->opt.store && c->opt.store->load(c->opt.store->ctx, mqttc__store_adopt, c) != MQTTC_OK)
        return MQTTC_ERR_STORE; /* (mqttc_deinit frees what was loaded) */
    return MQTTC_OK;
}


MQTTC_DEF void mqttc_deinit(mqttc_client *c) {
    if (mqttc__is_open(c)) mqttc__fail(c, MQTTC_ERR_CLOSED);
    if (c->wake) c->wake(c, 1); /* >>blocking releases its wake-up pipe */
    mqttc__chain_free(&c->stages);
    mqttc__buf *bufs[6] = {&c->rx, &c->tx, &c->inflight, &c->subs, &c->peer, &c->aliases_out};
    for (int i = 0; i < (MQTTC__HAS_V5 ? 6 : 4); i++)
        if (!bufs[i]->is_fixed) MQTTC_FREE(bufs[i]->p);
    MQTTC_FREE(c->fl.slot);
    memset(c, 0, sizeof *c);
    c->tr.fd = -1;
    c->wake_fd[0] = c->wake_fd[1] = -1;
}

/* ---- settings between connections ---- */

/* A setter's common part: only while no connection is open; the rule's verdict. */
static int mqttc__setting(mqttc_client *c, const char *bad) {
    if (mqttc__is_open(c)) return MQTTC_ERR_STATE;
    return bad ? mqttc__bad(c, bad) : MQTTC_OK;
}

MQTTC_DEF int mqttc_set_will(mqttc_client *c, const char *topic, const void *payload, size_t len, int qos,
                             int retain) {
    mqttc__lock(c);
    int rc = mqttc__setting(c, mqttc__will_bad(topic, payload, len, qos, retain));
    if (rc == MQTTC_OK) {
        c->opt.will_topic = topic;
        c->opt.will_payload = payload;
        c->opt.will_payload_len = len;
        c->opt.will_qos = qos;
        c->opt.will_retain = retain;
    }
    mqttc__unlock(c);
    return rc;
}

#ifndef MQTTC_NO_MQTT5
MQTTC_DEF int mqttc_set_will_props(mqttc_client *c, const mqttc_props *props) {
    static const mqttc_props none = {NULL, 0, NULL, 0};
    if (!props) props = &none;
    mqttc__lock(c);
    int is_bad = mqttc_props_check(props, MQTTC_PROPS_WILL) != MQTTC_OK ||
                 ((props->len || props->count) && !MQTTC__V5(c));
    int rc = mqttc__setting(c, is_bad ? "props" : NULL);
    if (rc == MQTTC_OK) c->opt.will_props = *props;
    mqttc__unlock(c);
    return rc;
}
#endif

MQTTC_DEF int mqttc_set_keepalive(mqttc_client *c, unsigned seconds) {
    mqttc__lock(c);
    int rc = mqttc__setting(c, seconds > 65535u ? "seconds" : NULL);
    if (rc == MQTTC_OK) {
        c->opt.keepalive_s = seconds;
        c->opt.no_keepalive = seconds == 0;
        c->opt.ping_timeout_ms = 0; /* follows the keepalive again, as by default */
        mqttc__options_defaults(&c->opt);
    }
    mqttc__unlock(c);
    return rc;
}

/* Clean session on drops the kept session at the next CONNACK [MQTT-3.1.2-6]. */
MQTTC_DEF int mqttc_set_clean_session(mqttc_client *c, int is_clean) {
    mqttc__lock(c);
    int rc = mqttc__setting(c, !is_clean && !mqttc_client_id(c)[0] && !MQTTC__V5(c) ? "options.no_clean_session"
                                                                                  : NULL); /* [MQTT-3.1.3-7] */
    if (rc == MQTTC_OK) c->opt.no_clean_session = !is_clean;
    mqttc__unlock(c);
    return rc;
}

MQTTC_DEF int mqttc_set_login(mqttc_client *c, const char *username, const void *password, size_t password_len) {
    mqttc__lock(c);
    int rc = mqttc__setting(c, mqttc__login_bad(username, password, password_len, mqttc__version(c)));
    if (rc == MQTTC_OK) {
        c->opt.username = username;
        c->opt.password = password;
        c->opt.password_len = password_len;
    }
    mqttc__unlock(c);
    return rc;
}

/* >>blocking ------------------------------------------------------------------------------ */
/* Blocking calls on the poll-loop interface: mqttc_wait sleeps in poll(2) until the client
   has work, and each call steps until its condition holds. With lock hooks (threads), a
   pipe wakes the sleeping loop when another thread queues output (the client's wake hook). */
#ifndef MQTTC_NO_SOCKETS

MQTTC_DEF uint64_t mqttc_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The client's wake hook: another thread queued output or disconnected while a blocking
   call sleeps in poll: a byte in the pipe wakes it. At deinit: the pipe is closed. */
static void mqttc__wake_pipe(mqttc_client *c, int is_end) {
    if (is_end) {
        for (int i = 0; i < 2; i++)
            if (c->wake_fd[i] >= 0) close(c->wake_fd[i]);
        c->wake_fd[0] = c->wake_fd[1] = -1;
    } else if (c->run_waiting && c->wake_fd[1] >= 0) {
        char b = 1;
        ssize_t r = write(c->wake_fd[1], &b, 1);
        (void)r; /* a full pipe is already a wake-up */
    }
}

/* Only a client shared between threads (lock hooks set) needs the wake-up pipe. */
static void mqttc__ensure_wake(mqttc_client *c) {
    if (!c->opt.lock || c->wake_fd[0] >= 0) return;
    if (pipe(c->wake_fd) != 0) { c->wake_fd[0] = c->wake_fd[1] = -1; return; }
    for (int i = 0; i < 2; i++) fcntl(c->wake_fd[i], F_SETFL, fcntl(c->wake_fd[i], F_GETFL, 0) | O_NONBLOCK);
    c->wake = mqttc__wake_pipe;
}

/* The one place the client's events meet poll(2)'s. */
MQTTC_DEF short mqttc_poll_events(const mqttc_client *c) {
    unsigned ev = mqttc_events(c);
    return (short)(((ev & MQTTC_EV_READ) ? POLLIN : 0) | ((ev & MQTTC_EV_WRITE) ? POLLOUT : 0));
}

MQTTC_DEF int mqttc_wait(mqttc_client *c, long max_ms, int extra_fd) {
    struct pollfd pfd[3];
    char drain[64];
    int n = 0, extra = -1, wake = -1;
    mqttc__lock(c);
    if (!mqttc__is_open(c) && c->state != MQTTC_STATE_WAITING) {
        mqttc__unlock(c);
        return MQTTC_ERR_STATE;
    }
    long ms = mqttc_timeout_ms(c, mqttc_now_ms()); /* WAITING: until the next attempt (no fd) */
    if (max_ms >= 0 && (ms < 0 || ms > max_ms)) ms = max_ms;
    pfd[n].fd = mqttc_fd(c);
    pfd[n++].events = mqttc_poll_events(c);
    if (c->wake_fd[0] >= 0) {
        wake = n;
        pfd[n].fd = c->wake_fd[0];
        pfd[n++].events = POLLIN;
    }
    if (extra_fd >= 0) {
        extra = n;
        pfd[n].fd = extra_fd;
        pfd[n++].events = POLLIN;
    }
    for (int i = 0; i < n; i++) pfd[i].revents = 0;
    c->run_waiting = 1;
    mqttc__unlock(c);
    int ready = poll(pfd, (nfds_t)n, ms > 0x7fffffffL ? 0x7fffffff : (int)ms);
    mqttc__lock(c);
    c->run_waiting = 0;
    if (ready > 0 && wake >= 0 && (pfd[wake].revents & POLLIN))
        while (read(c->wake_fd[0], drain, sizeof drain) > 0) {}
    mqttc__unlock(c);
    return ready > 0 && extra >= 0 && (pfd[extra].revents & (POLLIN | POLLHUP)) ? 1 : 0;
}

/* One round of every blocking call: wait (up to max_ms, -1: the client's own deadline),
   then step. */
static int mqttc__wait_step(mqttc_client *c, long max_ms) {
    int rc = mqttc_wait(c, max_ms, -1);
    if (rc < 0) return c->error ? c->error : rc; /* ended already: nothing to wait for */
    return mqttc_step(c, mqttc_now_ms());
}

/* A step that handles the CONNACK returns at once (mqttc__dispatch_all), so the loop ends
   before anything that came with it is delivered. */
MQTTC_DEF int mqttc_connect_wait(mqttc_client *c) {
    if (c->in_dispatch) return MQTTC_ERR_STATE;
    mqttc__ensure_wake(c);
    int rc = mqttc__is_open(c) || c->state == MQTTC_STATE_WAITING ? MQTTC_OK : (c->error ? c->error : MQTTC_ERR_STATE);
    while (rc == MQTTC_OK && c->state != MQTTC_STATE_CONNECTED) rc = mqttc__wait_step(c, -1); /* (through retries) */
    return rc;
}

MQTTC_DEF int mqttc_connect(mqttc_client *c, const char *host, int port) {
    int rc = mqttc_connect_start(c, host, port, mqttc_now_ms());
    return rc == MQTTC_OK ? mqttc_connect_wait(c) : rc;
}

MQTTC_DEF int mqttc_run(mqttc_client *c) {
    if (c->state == MQTTC_STATE_IDLE || c->in_dispatch) return MQTTC_ERR_STATE;
    mqttc__ensure_wake(c);
    int rc;
    do rc = mqttc__wait_step(c, -1);
    while (rc == MQTTC_OK);
    return rc;
}

MQTTC_DEF int mqttc_run_for(mqttc_client *c, long ms) {
    if (c->state == MQTTC_STATE_IDLE || c->in_dispatch) return MQTTC_ERR_STATE;
    mqttc__ensure_wake(c);
    uint64_t end = mqttc_now_ms() + (uint64_t)(ms > 0 ? ms : 0);
    int rc;
    do {
        uint64_t now = mqttc_now_ms();
        rc = mqttc__wait_step(c, now >= end ? 0 : (long)(end - now));
    } while (rc == MQTTC_OK && mqttc_now_ms() < end);
    return rc;
}

#endif /* MQTTC_NO_SOCKETS */

/* >>filestore ----------------------------------------------------------------------------- */
/* The bundled durable store (section 13): dir/<client id>/log, an append-only log of
   records, each checksummed; an index in memory of what it holds now (a few entries: the
   session's flows). Put and remove append; the log is rewritten with only the live records
   when it is opened (which also drops a torn or corrupt record for good) and whenever it has
   grown to four times what is live. The log starts with "MQTTCLOG", a magic (4 random bytes,
   new at each rewrite) and the CRC of those 12; then records:
       magic (4)  op (1 put, 2 remove)  kind  packet id (2)  length (4)  CRC of these 12 (4)
       data (length bytes)  CRC of the data (4)
   numbers big-endian, CRC-32 (IEEE 802.3). A sound header (its CRC holds) is believed: its
   length skips its data, bad data or not, and a length past the end is the torn tail of a
   crash (the rest is dropped). Only after an unsound header is the log searched for the next
   record (its magic and header CRC): a record-like run of bytes inside someone's payload
   would need this log's random magic to be taken for one. */
#if !defined(MQTTC_NO_SOCKETS) && !defined(MQTTC_NO_STORE)
#include <sys/file.h>
#include <sys/stat.h>

struct mqttc__fs_entry {
    uint64_t offset;     /* of the data in the log (PUBLISH) */
    uint32_t len;
    unsigned short id;
    unsigned char kind;  /* MQTTC_STORED_* */
};

enum { MQTTC__FS_PUT = 1, MQTTC__FS_REMOVE = 2, MQTTC__FS_HEAD = 16, MQTTC__FS_TAIL = 4, MQTTC__FS_FILE_HEAD = 16 };
#define MQTTC__FS_COMPACT_MIN 65536u /* a log this small is never worth rewriting */

static uint32_t mqttc__crc32(uint32_t crc, const unsigned char *p, size_t n) {
    static const uint32_t nibble[16] = {0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
                                        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
                                        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ nibble[crc & 15];
        crc = (crc >> 4) ^ nibble[crc & 15];
    }
    return ~crc;
}

static int mqttc__fs_is_incoming(int kind) { return kind == MQTTC_STORED_PUBREC; }

/* The entry for this direction and id, or -1. */
static long mqttc__fs_find(const mqttc_file_store *fs, int is_incoming, unsigned short id) {
    for (size_t i = 0; i < fs->count; i++)
        if (fs->entries[i].id == id && mqttc__fs_is_incoming(fs->entries[i].kind) == is_incoming) return (long)i;
    return -1;
}

static void mqttc__fs_drop(mqttc_file_store *fs, long i) {
    fs->live_bytes -= MQTTC__FS_HEAD + fs->entries[i].len + MQTTC__FS_TAIL;
    memmove(fs->entries + i, fs->entries + i + 1, (fs->count - (size_t)i - 1) * sizeof *fs->entries);
    fs->count--;
}

/* The index after a put: a new entry at the end, a replaced one where it was: the load
   gives the flows in the order they began, which is the order to send them again in
   [MQTT-4.6.0-1] (a PUBLISH put again once written, or its PUBREL, keeps its place). */
static int mqttc__fs_index(mqttc_file_store *fs, int kind, unsigned short id, uint64_t offset, uint32_t len) {
    long i = mqttc__fs_find(fs, mqttc__fs_is_incoming(kind), id);
    if (i >= 0) {
        mqttc__fs_entry *e = &fs->entries[i];
        fs->live_bytes += (uint64_t)len - e->len;
        e->offset = offset;
        e->len = len;
        e->kind = (unsigned char)kind;
        return MQTTC_OK;
    }
    if (fs->count == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 16;
        mqttc__fs_entry *e = (mqttc__fs_entry *)MQTTC_REALLOC(fs->entries, cap * sizeof *e);
        if (!e) return MQTTC_ERR_NOMEM;
        fs->entries = e;
        fs->cap = cap;
    }
    mqttc__fs_entry *e = &fs->entries[fs->count++];
    e->offset = offset;
    e->len = len;
    e->id = id;
    e->kind = (unsigned char)kind;
    fs->live_bytes += MQTTC__FS_HEAD + len + MQTTC__FS_TAIL;
    return MQTTC_OK;
}

static int mqttc__fs_write_all(int fd, const void *buf, size_t n, uint64_t at) {
    const unsigned char *p = (const unsigned char *)buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return MQTTC_ERR_STORE;
        p += w;
        at += (uint64_t)w;
        n -= (size_t)w;
    }
    return MQTTC_OK;
}

static uint32_t mqttc__get32be(const unsigned char *p) { return (uint32_t)mqttc__get16(p) << 16 | mqttc__get16(p + 2); }

static void mqttc__put32be(unsigned char *p, uint32_t v) {
    mqttc__put16(p, v >> 16);
    mqttc__put16(p + 2, v & 0xffffu);
}

/* One record written at `at` of fd: the header and its CRC, the data, the data's CRC. */
static int mqttc__fs_write_record(int fd, uint64_t at, uint32_t magic, int op, int kind, unsigned short id,
                                  const unsigned char *data, uint32_t len) {
    unsigned char head[MQTTC__FS_HEAD], tail[MQTTC__FS_TAIL];
    mqttc__put32be(head, magic);
    head[4] = (unsigned char)op;
    head[5] = (unsigned char)kind;
    mqttc__put16(head + 6, id);
    mqttc__put32be(head + 8, len);
    mqttc__put32be(head + 12, mqttc__crc32(0, head, 12));
    mqttc__put32be(tail, mqttc__crc32(0, data, len));
    unsigned char one[512]; /* a small record goes in one write */
    if (MQTTC__FS_HEAD + len + MQTTC__FS_TAIL <= sizeof one) {
        memcpy(one, head, sizeof head);
        if (len) memcpy(one + MQTTC__FS_HEAD, data, len);
        memcpy(one + MQTTC__FS_HEAD + len, tail, sizeof tail);
        return mqttc__fs_write_all(fd, one, MQTTC__FS_HEAD + len + MQTTC__FS_TAIL, at);
    }
    int rc = mqttc__fs_write_all(fd, head, sizeof head, at);
    if (rc == MQTTC_OK && len) rc = mqttc__fs_write_all(fd, data, len, at + MQTTC__FS_HEAD);
    if (rc == MQTTC_OK) rc = mqttc__fs_write_all(fd, tail, sizeof tail, at + MQTTC__FS_HEAD + len);
    return rc;
}

/* A new log's magic: random (the system's), so no payload holds it by chance. */
static uint32_t mqttc__fs_new_magic(void) {
    uint32_t m = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, &m, sizeof m) != (ssize_t)sizeof m) { /* (no urandom: time and pid) */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        m = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u ^ (uint32_t)getpid() << 16;
    }
    if (fd >= 0) close(fd);
    return m;
}

static uint64_t mqttc__fs_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int mqttc__fs_sync(mqttc_file_store *fs) {
    if (fdatasync(fs->fd) != 0) return MQTTC_ERR_STORE;
    fs->is_dirty = 0;
    fs->synced_ms = mqttc__fs_now_ms();
    return MQTTC_OK;
}

/* Rewrites the log with the live records only (their data read from `old`, or from the log
   when old is NULL), under a new magic: log.new, synced, renamed over log, the directory
   synced. The index moves to the new offsets only once all that held. */
static int mqttc__fs_compact(mqttc_file_store *fs, const unsigned char *old) {
    char tmp[sizeof fs->path + 8];
    unsigned char *data = NULL, head[MQTTC__FS_FILE_HEAD];
    uint64_t at = MQTTC__FS_FILE_HEAD, *offsets = NULL;
    uint32_t magic = mqttc__fs_new_magic();
    int rc = MQTTC_OK;
    snprintf(tmp, sizeof tmp, "%s.new", fs->path);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return MQTTC_ERR_STORE;
    memcpy(head, "MQTTCLOG", 8);
    mqttc__put32be(head + 8, magic);
    mqttc__put32be(head + 12, mqttc__crc32(0, head, 12));
    if (fs->count && !(offsets = (uint64_t *)MQTTC_MALLOC(fs->count * sizeof *offsets))) rc = MQTTC_ERR_NOMEM;
    if (rc == MQTTC_OK) rc = mqttc__fs_write_all(fd, head, sizeof head, 0);
    for (size_t i = 0; i < fs->count && rc == MQTTC_OK; i++) {
        mqttc__fs_entry *e = &fs->entries[i];
        const unsigned char *d = old ? old + e->offset : NULL;
        if (!old && e->len) { /* read back from the log */
            unsigned char *p = (unsigned char *)MQTTC_REALLOC(data, e->len);
            if (!p) { rc = MQTTC_ERR_NOMEM; break; }
            data = p;
            if (pread(fs->fd, data, e->len, (off_t)e->offset) != (ssize_t)e->len) { rc = MQTTC_ERR_STORE; break; }
            d = data;
        }
        rc = mqttc__fs_write_record(fd, at, magic, MQTTC__FS_PUT, e->kind, e->id, d, e->len);
        offsets[i] = at + MQTTC__FS_HEAD;
        at += MQTTC__FS_HEAD + e->len + MQTTC__FS_TAIL;
    }
    if (data) MQTTC_FREE(data);
    if (rc == MQTTC_OK && (fdatasync(fd) != 0 || rename(tmp, fs->path) != 0 || fsync(fs->dir_fd) != 0))
        rc = MQTTC_ERR_STORE;
    if (rc != MQTTC_OK) { /* the old log and its index stand */
        if (offsets) MQTTC_FREE(offsets);
        close(fd);
        unlink(tmp);
        return rc;
    }
    for (size_t i = 0; i < fs->count; i++) fs->entries[i].offset = offsets[i];
    if (offsets) MQTTC_FREE(offsets);
    if (fs->fd >= 0) close(fs->fd);
    fs->fd = fd;
    fs->magic = magic;
    fs->log_bytes = at;
    fs->is_dirty = 0;
    fs->synced_ms = mqttc__fs_now_ms();
    return MQTTC_OK;
}

/* After a put or remove: synced now (flush_ms 0), or left for flush; rewritten when mostly
   dead. */
static int mqttc__fs_after_write(mqttc_file_store *fs) {
    fs->is_dirty = 1;
    if (fs->log_bytes > MQTTC__FS_COMPACT_MIN && fs->log_bytes > 4 * fs->live_bytes) return mqttc__fs_compact(fs, NULL);
    return fs->flush_ms == 0 ? mqttc__fs_sync(fs) : MQTTC_OK;
}

static int mqttc__fs_put(void *ctx, const mqttc_stored *r) {
    mqttc_file_store *fs = (mqttc_file_store *)ctx;
    uint32_t len = r->kind == MQTTC_STORED_PUBLISH ? (uint32_t)r->len : 0;
    if (r->kind < MQTTC_STORED_PUBLISH || r->kind > MQTTC_STORED_PUBREC || (len && !r->data)) return MQTTC_ERR_ARG;
    int rc = mqttc__fs_write_record(fs->fd, fs->log_bytes, fs->magic, MQTTC__FS_PUT, r->kind, r->packet_id, r->data, len);
    if (rc == MQTTC_OK) rc = mqttc__fs_index(fs, r->kind, r->packet_id, fs->log_bytes + MQTTC__FS_HEAD, len);
    if (rc != MQTTC_OK) return rc; /* (a torn record left behind is overwritten by the next) */
    fs->log_bytes += MQTTC__FS_HEAD + len + MQTTC__FS_TAIL;
    return mqttc__fs_after_write(fs);
}

static int mqttc__fs_remove(void *ctx, int is_incoming, unsigned short id) {
    mqttc_file_store *fs = (mqttc_file_store *)ctx;
    long i = mqttc__fs_find(fs, is_incoming != 0, id);
    if (i < 0) return MQTTC_OK; /* nothing held: nothing to write */
    int rc = mqttc__fs_write_record(fs->fd, fs->log_bytes, fs->magic, MQTTC__FS_REMOVE, is_incoming != 0, id, NULL, 0);
    if (rc != MQTTC_OK) return rc;
    mqttc__fs_drop(fs, i);
    fs->log_bytes += MQTTC__FS_HEAD + MQTTC__FS_TAIL;
    return mqttc__fs_after_write(fs);
}

static int mqttc__fs_flush(void *ctx) {
    mqttc_file_store *fs = (mqttc_file_store *)ctx;
    if (!fs->is_dirty || mqttc__fs_now_ms() - fs->synced_ms < fs->flush_ms) return MQTTC_OK;
    return mqttc__fs_sync(fs);
}

/* Every record held, in the order put: the PUBLISHes' data read back from the log. */
static int mqttc__fs_load(void *ctx, int (*each)(void *arg, const mqttc_stored *r), void *arg) {
    mqttc_file_store *fs = (mqttc_file_store *)ctx;
    unsigned char *data = NULL;
    int rc = MQTTC_OK;
    for (size_t i = 0; i < fs->count && rc == MQTTC_OK; i++) {
        mqttc__fs_entry e = fs->entries[i];
        mqttc_stored r;
        memset(&r, 0, sizeof r);
        r.kind = e.kind;
        r.packet_id = e.id;
        if (e.len) {
            unsigned char *p = (unsigned char *)MQTTC_REALLOC(data, e.len);
            if (!p) { rc = MQTTC_ERR_NOMEM; break; }
            data = p;
            if (pread(fs->fd, data, e.len, (off_t)e.offset) != (ssize_t)e.len) { rc = MQTTC_ERR_STORE; break; }
            r.data = data;
            r.len = e.len;
        }
        rc = each(arg, &r);
    }
    if (data) MQTTC_FREE(data);
    return rc;
}

/* What starts at buf[pos] (of n): MQTTC_OK, a whole intact record of *size bytes;
   MQTTC_ERR_MALFORMED, a sound header whose data is not (skip *size); MQTTC_MORE, a sound
   header whose record runs past the end (a torn tail); MQTTC_ERR_ARG, no sound header. */
static int mqttc__fs_record_at(const unsigned char *buf, size_t n, size_t pos, uint32_t magic, size_t *size) {
    const unsigned char *h = buf + pos;
    if (n - pos < MQTTC__FS_HEAD || mqttc__get32be(h) != magic || mqttc__crc32(0, h, 12) != mqttc__get32be(h + 12))
        return MQTTC_ERR_ARG;
    uint32_t len = mqttc__get32be(h + 8);
    if ((uint64_t)len + MQTTC__FS_HEAD + MQTTC__FS_TAIL > n - pos) return MQTTC_MORE;
    *size = MQTTC__FS_HEAD + len + MQTTC__FS_TAIL;
    int is_put = h[4] == MQTTC__FS_PUT;
    if ((!is_put && h[4] != MQTTC__FS_REMOVE) || (is_put && (h[5] < MQTTC_STORED_PUBLISH || h[5] > MQTTC_STORED_PUBREC)) ||
        (!is_put && h[5] > 1) || (len && (!is_put || h[5] != MQTTC_STORED_PUBLISH)) ||
        mqttc__crc32(0, h + MQTTC__FS_HEAD, len) != mqttc__get32be(h + MQTTC__FS_HEAD + len))
        return MQTTC_ERR_MALFORMED;
    return MQTTC_OK;
}

static void mqttc__fs_problem(mqttc_file_store *fs, const char *what) {
    fs->skipped++;
    if (!fs->problem) fs->problem = what;
}

/* The log as found, replayed into the index; what is not a whole, intact record is skipped
   and counted (an unsound stretch once), the first kind of problem named. */
static int mqttc__fs_replay(mqttc_file_store *fs, const unsigned char *buf, size_t n) {
    int in_bad = 0;
    if (n == 0) return MQTTC_OK;
    if (n < MQTTC__FS_FILE_HEAD || memcmp(buf, "MQTTCLOG", 8) != 0 || mqttc__crc32(0, buf, 12) != mqttc__get32be(buf + 12)) {
        mqttc__fs_problem(fs, "the log's header is corrupt: nothing in it is trusted");
        return MQTTC_OK;
    }
    uint32_t magic = mqttc__get32be(buf + 8);
    for (size_t pos = MQTTC__FS_FILE_HEAD, size = 0; pos < n;) {
        int rc = mqttc__fs_record_at(buf, n, pos, magic, &size);
        if (rc == MQTTC_MORE || (rc == MQTTC_ERR_ARG && n - pos < MQTTC__FS_HEAD && !in_bad)) {
            mqttc__fs_problem(fs, "a torn record at the end (a crash while it was written)");
            return MQTTC_OK;
        }
        if (rc == MQTTC_ERR_ARG) { /* no sound header here: search on */
            if (!in_bad) mqttc__fs_problem(fs, "a corrupt record header");
            in_bad = 1;
            pos++;
            continue;
        }
        in_bad = 0;
        if (rc == MQTTC_ERR_MALFORMED) {
            mqttc__fs_problem(fs, "a corrupt record (its data's checksum does not hold)");
            pos += size;
            continue;
        }
        const unsigned char *h = buf + pos;
        unsigned short id = (unsigned short)mqttc__get16(h + 6);
        if (h[4] == MQTTC__FS_PUT) {
            int irc = mqttc__fs_index(fs, h[5], id, pos + MQTTC__FS_HEAD, (uint32_t)(size - MQTTC__FS_HEAD - MQTTC__FS_TAIL));
            if (irc != MQTTC_OK) return irc;
        } else {
            long i = mqttc__fs_find(fs, h[5] != 0, id);
            if (i >= 0) mqttc__fs_drop(fs, i);
        }
        pos += size;
    }
    return MQTTC_OK;
}

/* The whole log into memory (it is compacted: about what is live). */
static int mqttc__fs_read_all(int fd, unsigned char **buf, size_t *n) {
    struct stat st;
    *buf = NULL;
    *n = 0;
    if (fstat(fd, &st) != 0) return MQTTC_ERR_STORE;
    if (st.st_size == 0) return MQTTC_OK;
    *buf = (unsigned char *)MQTTC_MALLOC((size_t)st.st_size);
    if (!*buf) return MQTTC_ERR_NOMEM;
    for (size_t got = 0; got < (size_t)st.st_size;) {
        ssize_t r = pread(fd, *buf + got, (size_t)st.st_size - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return MQTTC_ERR_STORE;
        got += (size_t)r;
    }
    *n = (size_t)st.st_size;
    return MQTTC_OK;
}

/* dir/<id>, the id's characters other than [A-Za-z0-9_-] (and '.', but not first) as %XX. */
static int mqttc__fs_dir(char *out, size_t cap, const char *dir, const char *id) {
    size_t n = (size_t)snprintf(out, cap, "%s/", dir);
    for (const char *p = id; *p && n + 4 < cap; p++) {
        unsigned char ch = (unsigned char)*p;
        int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                    ch == '-' || (ch == '.' && p != id);
        n += (size_t)(plain ? snprintf(out + n, cap - n, "%c", ch) : snprintf(out + n, cap - n, "%%%02X", ch));
    }
    return n + 8 < cap ? MQTTC_OK : MQTTC_ERR_ARG; /* room for "/log.new" */
}

MQTTC_DEF int mqttc_file_store_open(mqttc_file_store *fs, const char *dir, const char *client_id, unsigned flush_ms) {
    char path[sizeof fs->path - 16];
    unsigned char *buf = NULL;
    size_t n = 0;
    memset(fs, 0, sizeof *fs);
    fs->fd = fs->dir_fd = -1;
    if (!dir || !*dir || !client_id || !*client_id || mqttc__fs_dir(path, sizeof path, dir, client_id) != MQTTC_OK)
        return MQTTC_ERR_ARG;
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || (mkdir(path, 0700) != 0 && errno != EEXIST)) return MQTTC_ERR_STORE;
    fs->dir_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fs->dir_fd < 0) return MQTTC_ERR_STORE;
    if (flock(fs->dir_fd, LOCK_EX | LOCK_NB) != 0) { /* one process at a time */
        int rc = errno == EWOULDBLOCK ? MQTTC_ERR_BUSY : MQTTC_ERR_STORE;
        mqttc_file_store_close(fs);
        return rc;
    }
    snprintf(fs->path, sizeof fs->path, "%s/log", path);
    fs->fd = open(fs->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int rc = fs->fd < 0 ? MQTTC_ERR_STORE : mqttc__fs_read_all(fs->fd, &buf, &n);
    if (rc == MQTTC_OK) rc = mqttc__fs_replay(fs, buf, n);
    if (rc == MQTTC_OK) rc = mqttc__fs_compact(fs, buf); /* clean from here on */
    if (buf) MQTTC_FREE(buf);
    if (rc != MQTTC_OK) {
        mqttc_file_store_close(fs);
        return rc;
    }
    fs->flush_ms = flush_ms;
    fs->store.put = mqttc__fs_put;
    fs->store.remove = mqttc__fs_remove;
    fs->store.load = mqttc__fs_load;
    fs->store.flush = mqttc__fs_flush;
    fs->store.ctx = fs;
    return MQTTC_OK;
}

MQTTC_DEF void mqttc_file_store_close(mqttc_file_store *fs) {
    if (fs->fd >= 0) {
        if (fs->is_dirty) (void)fdatasync(fs->fd);
        close(fs->fd);
    }
    if (fs->dir_fd >= 0) close(fs->dir_fd); /* (and its lock) */
    if (fs->entries) MQTTC_FREE(fs->entries);
    fs->fd = fs->dir_fd = -1;
    fs->entries = NULL;
    fs->count = fs->cap = 0;
}
#endif /* MQTTC_NO_STORE */

#endif /* MQTTC_IMPLEMENTATION_INCLUDED */
#endif /* MQTTC_IMPLEMENTATION */

/*
MIT License

Copyright (c) 2026 the mqttc authors

Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software
without restriction, including without limitation the rights to use, copy, modify, merge,
publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.
*/
