/* mqttc_lua.c - the Lua module require"mqttc" (Lua 5.1-5.4, LuaJIT) over mqttc.h.

   The API of the Barracuda App Server MQTT client (shared/seed/mqtt-client.txt), with the
   decisions of shared/reference/bas-mqttc.md for stock Lua:

       local mqtt, err = require"mqttc".connect(addr, onpub [, op])   addr: host | fd | socket
       mqtt:publish(topic, msg [, {qos=, retain=, onpublished=}]) -> true | nil, err
       mqtt:subscribe(filter [, onsuback] [, {qos=, onpub=}])  -> true | nil, err
       mqtt:unsubscribe(filter [, onunsuback])                 -> true | nil, err
       mqtt:disconnect() -> true | nil, err    mqtt:run() -> nil, err    mqtt:close()
       mqtt:inflight() -> outgoing, incoming   mqtt.error  mqtt.sock
       mqtt:step() mqtt:getfd() mqtt:events() mqtt:timeout()   (asynchronous mode)
       mqtt:pollfd()                                           (cqueues: it is pollable)
   Callbacks: onpub(topic, payload, qos, retain, dup), onsuback(code), onunsuback(),
   onpublished() (the QoS 1/2 publish completed: PUBACK or PUBCOMP arrived).

   Three socket modes: run() blocks in poll(2); step() never blocks and any event loop waits
   on getfd()/events()/timeout(); inside a cqueues coroutine run() and connect() yield
   (cqueues.poll) so other coroutines use the client meanwhile. The loops are Lua (an
   embedded chunk, at the end of this file): Lua 5.1 and LuaJIT cannot yield across C.
   Name resolution (getaddrinfo) blocks in every mode; a numeric address does not.

   What may wait depends on the mode. A client is in blocking mode until the script drives it
   itself: the first step(), getfd(), events() or timeout() puts it in asynchronous mode for
   good (is_async). Blocking mode: publish, subscribe and unsubscribe wait while the output
   buffer or the in-flight window is full and until their packet is written (stepping the
   client, so acks come in and keepalive runs), and disconnect() and close() wait until
   every QoS 1/2 flow has finished (or the drain times out). Asynchronous mode: nothing waits; a full buffer or window is nil, "busy", and
   disconnect() only starts the drain, which step() finishes. A cqueues coroutine waits by
   yielding, so there everything waits as in blocking mode. A callback runs inside step,
   where acks cannot be read: there a full window is always nil, "busy", and disconnect()
   starts the drain that the running loop finishes.

   Callbacks run inside mqttc_step, each through lua_pcall from a point where the client's
   C state is consistent; the first error is kept and raised by step() (so by run()) once
   mqttc_step has returned. Nothing longjmps through the core. A callback may call any
   method but step/run (close waits until the step ends); it must not yield.

   The socket is closed by the core when the connection ends, inside step() or the method
   that ended it: an event loop must not keep watching it (cqueues is told here, see
   lm_uncqueue; a luv poll handle must be stopped around those calls).

   Build: `make lua` (LUA=5.4 | 5.1 | luajit), or `luarocks make` with the rockspec. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#define MQTTC_IMPLEMENTATION
#define MQTTC_STATIC
#include "mqttc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" { /* Lua's headers have no guard of their own (lua.hpp does it) */
#endif
#include "lauxlib.h"
#include "lua.h"
#ifdef __cplusplus
}
#define LM_EXPORT extern "C"
#else
#define LM_EXPORT
#endif

/* ---- compat: Lua 5.1 and LuaJIT ------------------------------------------------------- */
#if LUA_VERSION_NUM < 502
#define lm_rawlen(L, i) lua_objlen(L, i)
#define lm_getuv(L, i) lua_getfenv(L, i)
#define lm_setuv(L, i) lua_setfenv(L, i)
static void lm_setfuncs(lua_State *L, const luaL_Reg *r) {
    for (; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }
}
#else
#define lm_rawlen(L, i) lua_rawlen(L, i)
#define lm_getuv(L, i) ((void)lua_getuservalue(L, i))
#define lm_setuv(L, i) lua_setuservalue(L, i)
#define lm_setfuncs(L, r) luaL_setfuncs(L, r, 0)
#endif

/* luaL_testudata is 5.2+; this one works everywhere. */
static void *lm_testudata(lua_State *L, int idx, const char *tname) {
    void *p = lua_touserdata(L, idx);
    if (!p || !lua_getmetatable(L, idx)) return NULL;
    luaL_getmetatable(L, tname);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? p : NULL;
}

/* A number that is an integer in [min, max] (5.1 has no integer subtype). */
static int lm_isint(lua_State *L, int idx, double min, double max, long long *out) {
    if (lua_type(L, idx) != LUA_TNUMBER) return 0;
    double d = (double)lua_tonumber(L, idx);
    if (!(d >= min && d <= max) || (double)(long long)d != d) return 0;
    *out = (long long)d;
    return 1;
}

/* ---- the userdata ----------------------------------------------------------------------- */
#define LM_CLIENT "mqttc.client"

/* create(): an on_status event, kept until onstatus hears it (lm_deliver). */
typedef struct lm_event {
    int event, error, reason_code, session_present;
    long retry_ms;
    unsigned char *props; /* a copy of the CONNACK's or DISCONNECT's properties */
    size_t props_len;
} lm_event;

typedef struct lm_client {
    mqttc_client c;    /* first: a callback's mqttc_client * is the lm_client * */
    lua_State *L;      /* the thread inside step(), for callbacks; NULL outside */
    int env;           /* during step: stack index of the env table */
    int err_slot;      /* during step: stack index of the first callback error */
    int has_error;     /* a callback raised; the error waits in err_slot */
    int in_step;       /* step() is running: callbacks may come, step/close must wait */
    int close_pending; /* close() from a callback: finished when step returns */
    int is_freed;      /* mqttc_deinit done: buffers and socket released */
    int final_error;   /* why it ended, kept after mqttc_deinit */
    int hold_fd;       /* a dup of an adopted LuaSocket fd, shut down when the client ends */
    int next_ref;      /* last key handed out in the handlers table */
    int is_cq_polled;  /* cqueues asked pollfd(): it may hold the fd registered */
    int is_async;      /* the script drives it (step/getfd/events/timeout): nothing waits */
    int pub_callbacks; /* onpublished callbacks waiting in ENV_PENDING_PUB */
    unsigned final_out, final_in; /* mqttc_inflight / _in when it ended, kept after deinit */
    /* MQTT 5, create(): */
    int is_v5;         /* made by create(): MQTT 5, onstatus, reconnects */
    int addr_kind;     /* how create() dials: LM_ADDR_HOST, _URL, _FUNCTION */
    int port;          /* LM_ADDR_HOST: the port */
    int is_stopped;    /* disconnect() or close(): no onstatus for the end, no restart */
    int will_due;      /* setwill() while open: applied when the connection is down */
    unsigned attempt;  /* failed attempts in a row (our own backoff, see lm_decide) */
    uint64_t restart_at_ms; /* the core stopped but onstatus said retry: dial again then */
    int nstatus;       /* on_status events waiting for onstatus (lm_deliver) */
    lm_event status[4];
    char sock_err[96]; /* why the addr function gave no socket */
    const char *will_topic; /* setwill(): the next connections' will (NULL: none) */
    const void *will_payload;
    size_t will_len;
    int will_qos, will_retain;
    mqttc_props will_props;
    mqttc_file_store *store; /* opt.store: the durable store, opened before mqttc_init */
} lm_client;

enum { LM_ADDR_HOST = 1, LM_ADDR_URL, LM_ADDR_FUNCTION };

/* The env table (the userdata's user value) keeps every Lua value the client refers to. */
enum {
    ENV_ONPUB = 1,      /* the global onpub */
    ENV_HANDLERS,       /* ref -> per-filter onpub; the ref is the C handler's user pointer */
    ENV_FILTERS,        /* filter -> ref, for the filters that have a handler */
    ENV_PENDING_CB,     /* packet id -> SUBACK/UNSUBACK callback, or false */
    ENV_PENDING_FILTER, /* packet id -> the filter of that request */
    ENV_PENDING_PUB,    /* packet id -> onpublished of a QoS 1/2 publish */
    ENV_CALL_MESSAGE,   /* the protected callers (made once: 5.1 allocates a closure each push) */
    ENV_CALL_SUBACK,
    ENV_CALL_UNSUBACK,
    ENV_CALL_PUBLISHED,
    ENV_ONSTATUS,       /* create(): onstatus, or false */
    ENV_ADDR,           /* create(): the address (host, URL or function), or false */
    ENV_WILL,           /* create(): what setwill() keeps alive (strings, properties), or false */
    ENV_KEEP            /* from here on: option strings mqttc_options points into */
};

/* Raises "where: message". Where is the caller's line, as luaL_error puts it, but found
   past the frames of our Lua part (chunk "=mqttc"): the error points at the script. */
static int lm_error(lua_State *L, const char *fmt, ...) {
    lua_Debug ar;
    va_list ap;
    int level = 1;
    lua_pushliteral(L, "");
    while (lua_getstack(L, level++, &ar)) {
        lua_getinfo(L, "Sl", &ar);
        if (strcmp(ar.source, "=mqttc") == 0 || strcmp(ar.what, "tail") == 0) continue;
        if (ar.currentline > 0) {
            lua_pop(L, 1);
            lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
        }
        break;
    }
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    return lua_error(L);
}

static lm_client *lm_check(lua_State *L, const char *fname) {
    lm_client *u = (lm_client *)lm_testudata(L, 1, LM_CLIENT);
    if (!u) lm_error(L, "calling '%s' on bad self (mqttc client expected, got %s)", fname, luaL_typename(L, 1));
    return u;
}

/* ---- result helpers --------------------------------------------------------------------- */

/* Caller bugs raise, in the original's words: bad argument #N to 'f' (...). The number
   counts the arguments the caller wrote (self excluded), the same in every Lua version. */
static int lm_argerror(lua_State *L, int argn, const char *fname, const char *msg) {
    return lm_error(L, "bad argument #%d to '%s' (%s)", argn, fname, msg);
}

static int lm_typeerror(lua_State *L, int idx, int argn, const char *fname, const char *expected) {
    const char *msg = lua_pushfstring(L, "%s expected, got %s", expected, luaL_typename(L, idx));
    return lm_argerror(L, argn, fname, msg);
}

static const char *lm_checkstring(lua_State *L, int idx, int argn, const char *fname, size_t *len) {
    if (lua_type(L, idx) != LUA_TSTRING && lua_type(L, idx) != LUA_TNUMBER) lm_typeerror(L, idx, argn, fname, "string");
    return lua_tolstring(L, idx, len);
}

/* The seed reports a CONNACK refusal as its return code, a number 1..5; the core says
   MQTTC_ERR_REFUSED with the code beside it (mqttc_reason_code). Kept together here as one
   value, LM_REFUSED - code, below every core error. */
#define LM_REFUSED (-1000)
static int lm_core_error(const mqttc_client *c) {
    int err = mqttc_error(c);
    return err == MQTTC_ERR_REFUSED ? LM_REFUSED - mqttc_reason_code(c) : err;
}

/* Pushes an error as Lua sees it: the short name, or the CONNACK code 1..5 as a number. */
static void lm_pusherror(lua_State *L, int err) {
    if (err < LM_REFUSED) lua_pushinteger(L, LM_REFUSED - err);
    else lua_pushstring(L, mqttc_errname(err));
}

static int lm_failure(lua_State *L, int err) {
    lua_pushnil(L);
    lm_pusherror(L, err);
    return 2;
}

/* The client's state; CLOSED once released. */
static int lm_state(const lm_client *u) { return u->is_freed ? (int)MQTTC_STATE_CLOSED : mqttc_state(&u->c); }

/* disconnect() was called: draining the QoS flows, or DISCONNECT on its way. */
static int lm_is_ending(const lm_client *u) {
    int state = lm_state(u);
    return state == MQTTC_STATE_DRAINING || state == MQTTC_STATE_DISCONNECTING;
}

/* Why the client cannot take new work now, or MQTTC_OK while it can. After disconnect() it
   is "disconnect" already (the seed's word for a publish after it), though the drain runs. */
static int lm_end_reason(const lm_client *u) {
    if (u->is_freed) return u->final_error;
    if (mqttc_state(&u->c) == MQTTC_STATE_CLOSED) return lm_core_error(&u->c);
    if (lm_is_ending(u)) return MQTTC_ERR_DISCONNECT;
    return MQTTC_OK;
}

/* opt.store's file store, closed (its records stay for the next run). */
static void lm_close_store(lm_client *u) {
    if (!u->store) return;
    mqttc_file_store_close(u->store);
    free(u->store);
    u->store = NULL;
}

/* opt.store = directory: the file store of this client id, every put and remove on disk
   before the call returns (mqttc.h section 13), opened before mqttc_init loads it. The id
   must be fixed (the store is per id): opt.id / opt.clientidentifier. */
static void lm_open_store(lua_State *L, lm_client *u, const char *dir, const char *id, const char *id_field) {
    if (!dir) return;
    if (!id || !*id) lm_error(L, "opt.store: needs opt.%s (the store is kept per client id)", id_field);
    u->store = (mqttc_file_store *)malloc(sizeof *u->store);
    if (!u->store) lm_error(L, "opt.store: out of memory");
    int rc = mqttc_file_store_open(u->store, dir, id, 0);
    if (rc != MQTTC_OK) {
        int e = errno;
        free(u->store);
        u->store = NULL;
        if (rc == MQTTC_ERR_BUSY) lm_error(L, "opt.store: %s is in use by another client", dir);
        lm_error(L, "opt.store: cannot open %s: %s", dir, rc == MQTTC_ERR_STORE ? strerror(e) : mqttc_strerror(rc));
    }
}

/* Releases everything of an ended client: buffers, socket, our dup of an adopted one (shut
   down first, so the connection really ends while the script still holds its object). The
   reason and the flows left unfinished stay for mqtt.error and inflight(). */
static void lm_free(lm_client *u, int why) {
    if (u->is_freed) return;
    u->final_error = mqttc_state(&u->c) == MQTTC_STATE_CLOSED ? lm_core_error(&u->c) : why;
    u->final_out = mqttc_inflight(&u->c);
    u->final_in = mqttc_inflight_in(&u->c);
    mqttc_deinit(&u->c);
    lm_close_store(u);
    for (int i = 0; i < u->nstatus; i++) free(u->status[i].props);
    u->nstatus = 0;
    u->restart_at_ms = 0;
    if (u->hold_fd >= 0) {
        (void)shutdown(u->hold_fd, SHUT_RDWR);
        close(u->hold_fd);
        u->hold_fd = -1;
    }
    u->is_freed = 1;
}

/* After every call into the core: a client that has ended is released at once, unless a
   step is running below us (its dispatch loop still reads the buffers). */
static void lm_settle(lm_client *u) {
    /* (create(): not while onstatus has yet to hear of the end, or said to dial again) */
    if (!u->in_step && lm_state(u) == MQTTC_STATE_CLOSED && !u->nstatus && !u->restart_at_ms)
        lm_free(u, lm_core_error(&u->c));
}

/* cqueues keeps a polled descriptor registered after the poll returns, and fails on one
   that was closed meanwhile. Before any call that may close the socket, a client cqueues
   has polled is cancelled there (which also wakes a run() parked on it in another
   coroutine: it steps and polls again with what the client wants now). */
static void lm_uncqueue(lua_State *L, lm_client *u) {
    if (!u->is_cq_polled) return;
    u->is_cq_polled = 0;
    int fd = u->is_freed ? -1 : mqttc_fd(&u->c);
    if (fd < 0) return;
    int top = lua_gettop(L);
    lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
    if (lua_istable(L, -1)) lua_getfield(L, -1, "cqueues");
    if (lua_istable(L, -1)) lua_getfield(L, -1, "cancel");
    if (lua_isfunction(L, -1)) {
        lua_pushinteger(L, fd);
        (void)lua_pcall(L, 1, 0, 0); /* an error here must not stop the close */
    }
    lua_settop(L, top);
}

/* The result of publish/subscribe/unsubscribe/disconnect: true, or nil and why not. BUSY
   comes back as "busy": the Lua wrapper waits and tries again, or (asynchronous mode, a
   callback) returns it. A client that is not connected answers why it ended, as the
   seed's run() does: the core's MQTTC_ERR_STATE says only that it is not connected. */
static int lm_status(lua_State *L, lm_client *u, int rc) {
    lm_settle(u);
    if (rc == MQTTC_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (rc == MQTTC_ERR_STATE || rc == MQTTC_ERR_CLOSED) rc = lm_end_reason(u) ? lm_end_reason(u) : rc;
    /* create(): offline between two connections, the last loss says why */
    if (rc == MQTTC_ERR_STATE && lm_state(u) == MQTTC_STATE_WAITING && mqttc_error(&u->c)) rc = lm_core_error(&u->c);
    return lm_failure(L, rc);
}

/* ---- options: parsed and checked before any network I/O --------------------------------- */

typedef struct lm_config {
    mqttc_options o;
    int port;
    int is_secure;
    int nocheck; /* create(): opt.nocheck */
} lm_config;

/* "opt.will.topic: expected string, got nil" (the original's wording for option types). */
static int lm_opterror(lua_State *L, const char *field, const char *expected, int idx) {
    return lm_error(L, "opt.%s: expected %s, got %s", field, expected, luaL_typename(L, idx));
}

/* Pushes op[key] (op at index t); returns 0 when it is nil (then nothing is pushed). */
static int lm_field(lua_State *L, int t, const char *key) {
    lua_getfield(L, t, key);
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 1);
    return 0;
}

/* Every key of the option table at t must be one of known (NULL-terminated): a misspelt
   key (kepalive) would otherwise be ignored in silence. "opt.kepalive: unknown option". */
static void lm_check_keys(lua_State *L, int t, const char *where, const char *const *known) {
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1); /* the value; the key stays for lua_next */
        const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        const char *const *k = known;
        while (key && *k && strcmp(*k, key) != 0) k++;
        if (key && *k) continue;
        if (key) lm_error(L, "%s.%s: unknown option", where, key);
        if (lua_type(L, -1) == LUA_TNUMBER) {
            lua_pushvalue(L, -1); /* tostring on a copy: lua_next needs the key as it is */
            lm_error(L, "%s[%s]: unknown option", where, lua_tostring(L, -1));
        }
        lm_error(L, "%s: unknown option (a %s key)", where, luaL_typename(L, -1));
    }
}

/* A string option, kept alive in the env table (mqttc_options borrows the pointer). */
static const char *lm_optstring(lua_State *L, int t, const char *key, const char *field, int env, size_t *len) {
    if (!lm_field(L, t, key)) return NULL;
    if (lua_type(L, -1) != LUA_TSTRING) lm_opterror(L, field, "string", -1);
    const char *s = lua_tolstring(L, -1, len);
    lua_rawseti(L, env, (int)lm_rawlen(L, env) + 1);
    return s;
}

/* A string option that must be there: "opt.will.topic: expected string, got nil". */
static const char *lm_required(lua_State *L, const char *s, const char *field) {
    if (s) return s;
    lua_pushnil(L);
    lm_opterror(L, field, "string", -1);
    return NULL;
}

/* A text option: no NUL inside (the core reads it as a C string). */
static const char *lm_opttext(lua_State *L, int t, const char *key, const char *field, int env) {
    size_t len = 0;
    const char *s = lm_optstring(L, t, key, field, env, &len);
    if (s && strlen(s) != len) lm_error(L, "opt.%s: must not contain a zero byte", field);
    return s;
}

static long long lm_optint(lua_State *L, int t, const char *key, const char *field, long long min, long long max,
                           long long def) {
    long long v = 0;
    if (!lm_field(L, t, key)) return def;
    if (lua_type(L, -1) != LUA_TNUMBER) lm_opterror(L, field, "number", -1);
    if (!lm_isint(L, -1, (double)min, (double)max, &v))
        lm_error(L, "opt.%s: expected an integer in %d..%d, got %s", field, (int)min, (int)max, lua_tostring(L, -1));
    lua_pop(L, 1);
    return v;
}

/* Seconds as a number > 0, returned in milliseconds; def when absent. */
static unsigned lm_optseconds(lua_State *L, int t, const char *key, unsigned def) {
    if (!lm_field(L, t, key)) return def;
    if (lua_type(L, -1) != LUA_TNUMBER) lm_opterror(L, key, "number", -1);
    double s = (double)lua_tonumber(L, -1);
    if (!(s > 0 && s <= 4000000.0)) lm_error(L, "opt.%s: expected seconds > 0, got %s", key, lua_tostring(L, -1));
    lua_pop(L, 1);
    unsigned ms = (unsigned)(s * 1000.0 + 0.5);
    return ms ? ms : 1;
}

static int lm_optbool(lua_State *L, int t, const char *key, const char *field, int def) {
    if (!lm_field(L, t, key)) return def;
    if (lua_type(L, -1) != LUA_TBOOLEAN) lm_opterror(L, field, "boolean", -1);
    int b = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return b;
}

/* op.will = {topic=, message=, qos=, retain=}: a will published on an unclean end. */
static void lm_parse_will(lua_State *L, int t, int env, mqttc_options *o) {
    static const char *const keys[] = {"topic", "message", "qos", "retain", NULL};
    if (!lm_field(L, t, "will")) return;
    if (!lua_istable(L, -1)) lm_opterror(L, "will", "table", -1);
    int w = lua_gettop(L);
    size_t len = 0;
    lm_check_keys(L, w, "opt.will", keys);
    o->will_topic = lm_required(L, lm_opttext(L, w, "topic", "will.topic", env), "will.topic");
    o->will_payload = lm_required(L, lm_optstring(L, w, "message", "will.message", env, &len), "will.message");
    o->will_payload_len = len;
    o->will_qos = (int)lm_optint(L, w, "qos", "will.qos", 0, 2, 0);
    o->will_retain = lm_optbool(L, w, "retain", "will.retain", 0);
    lua_pop(L, 1);
}

/* op.secure and its companions. Read and type-checked in every build; a TLS field without
   secure=true is an error, never a silent plain-text connection (as in the core). */
static void lm_parse_tls(lua_State *L, int t, int env, lm_config *cfg) {
    static const char *const fields[] = {"cafile", "capath", "cert", "key", "servername"};
    mqttc_options *o = &cfg->o;
    const char *v[5];
    cfg->is_secure = o->secure = lm_optbool(L, t, "secure", "secure", 0);
    /* BAS scripts may pass op.shark (their SharkSSL object: TLS) and op.nocheck (skip the
       trust check). There is no SharkSSL here: shark means TLS through OpenSSL, never a
       silent plain-text connection. nocheck is accepted and changes nothing: the seed's rule
       (credentials are sent only to a trusted broker) still holds. */
    if (lm_field(L, t, "shark")) {
        lua_pop(L, 1);
        cfg->is_secure = o->secure = 1;
    }
    (void)lm_optbool(L, t, "nocheck", "nocheck", 0);
    for (int i = 0; i < 5; i++) v[i] = lm_opttext(L, t, fields[i], fields[i], env);
    o->tls_ca_file = v[0];
    o->tls_ca_path = v[1];
    o->tls_cert_file = v[2];
    o->tls_key_file = v[3];
    o->tls_server_name = v[4];
    o->tls_verify = lm_optbool(L, t, "verify", "verify", 0);
}

/* A TLS option without TLS (opt.secure, or an mqtts:// or wss:// address) raises before any
   I/O: never a silent plain-text connection. (The core refuses it too, but only at connect,
   since a URL may make the connection TLS.) */
static void lm_check_tls_fields(lua_State *L, const lm_config *cfg, int addr) {
    static const char *const names[] = {"cafile", "capath", "cert", "key", "servername", "verify", "alpn"};
    const mqttc_options *o = &cfg->o;
    const void *v[7];
    const char *a = lua_type(L, addr) == LUA_TSTRING ? lua_tostring(L, addr) : "";
    if (o->secure || strncmp(a, "mqtts://", 8) == 0 || strncmp(a, "wss://", 6) == 0) return;
    v[0] = o->tls_ca_file, v[1] = o->tls_ca_path, v[2] = o->tls_cert_file, v[3] = o->tls_key_file;
    v[4] = o->tls_server_name, v[5] = o->tls_verify ? "" : NULL, v[6] = o->tls_alpn;
    for (int i = 0; i < 7; i++)
        if (v[i]) lm_error(L, "opt.%s: needs opt.secure=true", names[i]);
}

/* The in-flight window: QoS 1/2 publishes sent and not yet acknowledged. mosquitto 2.0 keeps
   at most 20 unreleased QoS 2 messages per client (max_inflight_messages) and drops the rest,
   answering PUBREC with a reason code a 3.1.1 client cannot see: a larger window loses
   messages in silence on the broker people run. libmosquitto uses 20 too. */
#define LM_DEFAULT_INFLIGHT 20

/* The keys of op: the seed's, ours, and BAS's shark/nocheck (see lm_parse_tls). */
static const char *const lm_option_keys[] = {
    "port",   "keepalive", "id",         "clean",       "uname",    "passwd",      "will",
    "secure", "cafile",    "capath",     "cert",        "key",      "servername",  "verify",
    "timeout", "pingtimeout", "maxpacket", "maxinflight", "disconnecttimeout", "shark", "nocheck", "proxy", "store", NULL};

/* Fills cfg from the op table at index t; every string it keeps goes into env. */
static void lm_parse_options(lua_State *L, int t, int env, lm_config *cfg) {
    mqttc_options *o = &cfg->o;
    size_t len = 0;
    memset(cfg, 0, sizeof *cfg);
    o->keepalive_s = 600; /* the original's default */
    o->max_inflight = LM_DEFAULT_INFLIGHT;
    if (t == 0) return;
    lm_check_keys(L, t, "opt", lm_option_keys);
    lm_parse_tls(L, t, env, cfg);
    cfg->port = (int)lm_optint(L, t, "port", "port", 1, 65535, 0);
    long long ka = lm_optint(L, t, "keepalive", "keepalive", 0, 65535, 600);
    o->keepalive_s = (unsigned)ka;
    o->no_keepalive = ka == 0;
    /* the MQTT rules on these (UTF-8, lengths, a password needs a user name...) are the
       core's: mqttc_init names the field that breaks one (lm_init_error) */
    o->client_id = lm_opttext(L, t, "id", "id", env);
    o->no_clean_session = !lm_optbool(L, t, "clean", "clean", 1);
    o->username = lm_opttext(L, t, "uname", "uname", env);
    o->password = lm_optstring(L, t, "passwd", "passwd", env, &len);
    o->password_len = len;
    lm_parse_will(L, t, env, o);
    o->ping_timeout_ms = lm_optseconds(L, t, "pingtimeout", 0);
    o->connect_timeout_ms = lm_optseconds(L, t, "timeout", 0);
    o->max_packet_size = (size_t)lm_optint(L, t, "maxpacket", "maxpacket", 16, 268435460LL, 0);
    o->max_inflight = (unsigned)lm_optint(L, t, "maxinflight", "maxinflight", 1, 65535, LM_DEFAULT_INFLIGHT);
    /* how long disconnect() waits for open QoS 1/2 flows before it gives up: "timeout" */
    o->disconnect_timeout_ms = lm_optseconds(L, t, "disconnecttimeout", 0);
    /* "socks5h://[user:pass@]host[:port]", "socks5://...", "http://[user:pass@]host[:port]" */
    o->proxy = lm_opttext(L, t, "proxy", "proxy", env);
}

/* The Lua name of what the core calls options.<field> (mqttc_bad_arg), so a rejected
   option is reported as the script wrote it. NULL: not one of ours. */
static const char *lm_option_name(const char *core) {
    static const char *const names[][2] = {
        {"client_id", "id"},          {"keepalive_s", "keepalive"},     {"username", "uname"},
        {"password", "passwd"},       {"will_topic", "will.topic"},     {"will_payload", "will.message"},
        {"will_qos", "will.qos"},     {"will_retain", "will.retain"},   {"connect_timeout_ms", "timeout"},
        {"ping_timeout_ms", "pingtimeout"}, {"max_packet_size", "maxpacket"}, {"max_inflight", "maxinflight"},
        {"disconnect_timeout_ms", "disconnecttimeout"}, {"secure", "secure"}, {"tls_ca_file", "cafile"},
        {"tls_ca_path", "capath"},    {"tls_cert_file", "cert"},        {"tls_key_file", "key"},
        {"tls_server_name", "servername"}, {"tls_verify", "verify"}};
    if (strncmp(core, "options.", 8) != 0) return NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(core + 8, names[i][0]) == 0) return names[i][1];
    return NULL;
}

/* The core refused an argument (MQTTC_ERR_ARG) that our checks let through: a CA file that
   does not load, say. That is the caller's to fix, so it raises, naming the option, never
   nil, "argument" (which would not say which). For a file, why it cannot be read; t is the
   op table (0: none). */
static int lm_argument_error(lua_State *L, int t, const char *bad, int sys_errno) {
    const char *lua_name = lm_option_name(bad);
    const char *path = NULL;
    if (!lua_name) return lm_error(L, "mqttc: %s: %s", bad[0] ? bad : "an argument", "rejected");
    if (t && strchr(lua_name, '.') == NULL && lm_field(L, t, lua_name)) path = lua_tostring(L, -1);
    if (path && (strcmp(lua_name, "cafile") == 0 || strcmp(lua_name, "capath") == 0 ||
                 strcmp(lua_name, "cert") == 0 || strcmp(lua_name, "key") == 0)) {
        if (access(path, R_OK) != 0) return lm_error(L, "opt.%s: cannot read %s (%s)", lua_name, path, strerror(errno));
        return lm_error(L, "opt.%s: %s is not usable for TLS (OpenSSL refused it)", lua_name, path);
    }
    if (sys_errno) return lm_error(L, "opt.%s: rejected (%s)", lua_name, strerror(sys_errno));
    return lm_error(L, "opt.%s: rejected", lua_name);
}

/* mqttc_init refused the options: the core names the field (mqttc_bad_arg), and the
   script hears it in its own words. t is the op table. */
static int lm_init_error(lua_State *L, int t, const char *bad) {
    static const char *const says[][2] = {
        {"options.will_topic", "opt.will.topic: not a valid topic name"},
        {"options.will_payload", "opt.will.message: longer than 65535 bytes"},
        {"options.client_id", "opt.id: not valid UTF-8"},
        {"options.no_clean_session", "opt.clean: an empty id needs a clean session [MQTT-3.1.3-7]"},
        {"options.username", "opt.uname: not valid UTF-8"},
        {"options.password", "opt.passwd: a password needs opt.uname [MQTT-3.1.2-22]"},
        {"options.password_len", "opt.passwd: longer than 65535 bytes"},
        {"options.tls_key_file", "opt.key: needs opt.cert"},
#ifndef MQTTC_WITH_OPENSSL
        {"options.secure", "opt.secure: this mqttc module was built without TLS (OpenSSL)"},
#endif
    };
    const char *lua_name = lm_option_name(bad);
    for (size_t i = 0; i < sizeof says / sizeof says[0]; i++)
        if (strcmp(bad, says[i][0]) == 0) return lm_error(L, "%s", says[i][1]);
    if (lua_name && strncmp(bad, "options.tls_", 12) == 0) /* a TLS field without secure */
        return lm_error(L, "opt.%s: needs opt.secure=true", lua_name);
    return lm_argument_error(L, t, bad, 0);
}

/* ---- callbacks: trampolines from the core into Lua -------------------------------------- */

/* Runs the protected caller on top of the stack with nargs arguments. The first error is
   kept for step() to raise once the core has returned. */
static void lm_pcall(lm_client *u, int nargs) {
    lua_State *L = u->L;
    if (lua_pcall(L, nargs, 0, 0) == 0) return;
    if (u->has_error) {
        lua_pop(L, 1);
        return;
    }
    lua_replace(L, u->err_slot);
    u->has_error = 1;
}

static void lm_push_props(lua_State *L, const mqttc_props *ps);

/* Protected: (handler, message, is_v5) -> handler(topic, payload, qos, retain, dup), or
   for create()'s clients handler(topic, payload, properties, {qos=, retain=, dup=}). */
static int lm_call_message(lua_State *L) {
    const mqttc_message *m = (const mqttc_message *)lua_touserdata(L, 2);
    int is_v5 = lua_toboolean(L, 3);
    lua_pushvalue(L, 1);
    lua_pushlstring(L, m->topic, m->topic_len);
    lua_pushlstring(L, (const char *)m->payload, m->payload_len);
    if (is_v5) {
        lm_push_props(L, &m->props);
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, m->qos);
        lua_setfield(L, -2, "qos");
        lua_pushboolean(L, m->retain);
        lua_setfield(L, -2, "retain");
        lua_pushboolean(L, m->dup);
        lua_setfield(L, -2, "dup");
        lua_call(L, 4, 0);
        return 0;
    }
    lua_pushinteger(L, m->qos);
    lua_pushboolean(L, m->retain);
    lua_pushboolean(L, m->dup);
    lua_call(L, 5, 0);
    return 0;
}

/* The core hands a message to a per-filter handler (user = its ref) or to onpub (user 0).
   Only stack operations that cannot fail happen outside the protected call. */
static void lm_on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    lm_client *u = (lm_client *)(void *)c;
    lua_State *L = u->L;
    int ref = (int)(intptr_t)user;
    lua_rawgeti(L, u->env, ENV_CALL_MESSAGE);
    lua_rawgeti(L, u->env, ENV_HANDLERS);
    lua_rawgeti(L, -1, ref);
    lua_remove(L, -2);
    if (lua_isnil(L, -1)) { /* no per-filter handler: the global onpub */
        lua_pop(L, 1);
        lua_rawgeti(L, u->env, ENV_ONPUB);
    }
    lua_pushlightuserdata(L, (void *)(uintptr_t)m);
    lua_pushboolean(L, u->is_v5);
    lm_pcall(u, 3);
}

/* Takes the request's callback and filter out of the pending tables; when the filter lost
   its handler in the core (refused SUBACK, UNSUBACK), it loses it here too. Leaves the
   callback on the stack. Stack: env, id, ... */
static void lm_finish_request(lua_State *L, int drops_handler) {
    int id = (int)lua_tointeger(L, 2);
    lua_rawgeti(L, 1, ENV_PENDING_CB);
    lua_rawgeti(L, -1, id);
    lua_pushnil(L);
    lua_rawseti(L, -3, id);
    lua_remove(L, -2); /* the callback stays */
    lua_rawgeti(L, 1, ENV_PENDING_FILTER);
    lua_rawgeti(L, -1, id); /* the filter */
    lua_pushnil(L);
    lua_rawseti(L, -3, id);
    if (drops_handler && lua_isstring(L, -1)) {
        lua_rawgeti(L, 1, ENV_FILTERS);
        lua_pushvalue(L, -2);
        lua_rawget(L, -2); /* its ref */
        if (!lua_isnil(L, -1)) {
            lua_rawgeti(L, 1, ENV_HANDLERS);
            lua_pushvalue(L, -2);
            lua_pushnil(L);
            lua_rawset(L, -3);
            lua_pop(L, 1);
            lua_pushvalue(L, -3);
            lua_pushnil(L);
            lua_rawset(L, -4);
        }
        lua_pop(L, 2);
    }
    lua_pop(L, 2); /* pending filter table, filter */
}

/* Protected: (env, id, code) -> onsuback(code). A refused filter (0x80) loses its handler. */
static int lm_call_suback(lua_State *L) {
    int code = (int)lua_tointeger(L, 3);
    const mqttc_props *ps = (const mqttc_props *)lua_touserdata(L, 4); /* create(): properties */
    lm_finish_request(L, code >= 0x80);
    if (!lua_isfunction(L, -1)) return 0;
    lua_pushinteger(L, code);
    if (ps) lm_push_props(L, ps);
    lua_call(L, ps ? 2 : 1, 0);
    return 0;
}

/* Protected: (env, id [, code, props]) -> onunsuback(), or for create()'s clients
   onunsubscribe(reasoncode, properties). The filter's handler is gone. */
static int lm_call_unsuback(lua_State *L) {
    int code = (int)lua_tointeger(L, 3);
    const mqttc_props *ps = (const mqttc_props *)lua_touserdata(L, 4);
    lm_finish_request(L, 1);
    if (!lua_isfunction(L, -1)) return 0;
    if (ps) {
        lua_pushinteger(L, code);
        lm_push_props(L, ps);
    }
    lua_call(L, ps ? 2 : 0, 0);
    return 0;
}

static void lm_on_suback(mqttc_client *c, const mqttc_suback_info *sa, void *user) {
    lm_client *u = (lm_client *)(void *)c;
    lua_State *L = u->L;
    (void)user;
    lua_rawgeti(L, u->env, ENV_CALL_SUBACK);
    lua_pushvalue(L, u->env);
    lua_pushinteger(L, sa->packet_id);
    lua_pushinteger(L, sa->codes[0]); /* one filter a SUBSCRIBE */
    if (u->is_v5) lua_pushlightuserdata(L, (void *)(uintptr_t)&sa->props);
    else lua_pushnil(L);
    lm_pcall(u, 4);
}

static void lm_on_unsuback(mqttc_client *c, const mqttc_ack_info *a, void *user) {
    lm_client *u = (lm_client *)(void *)c;
    lua_State *L = u->L;
    (void)user;
    lua_rawgeti(L, u->env, ENV_CALL_UNSUBACK);
    lua_pushvalue(L, u->env);
    lua_pushinteger(L, a->packet_id);
    lua_pushinteger(L, a->count ? a->codes[0] : a->reason_code);
    if (u->is_v5) lua_pushlightuserdata(L, (void *)(uintptr_t)&a->props);
    else lua_pushnil(L);
    lm_pcall(u, 4);
}

/* Protected: (env, id) -> onpublished(), taken out of the pending table first. */
static int lm_call_published(lua_State *L) {
    int id = (int)lua_tointeger(L, 2);
    lua_rawgeti(L, 1, ENV_PENDING_PUB);
    lua_rawgeti(L, -1, id);
    lua_pushnil(L);
    lua_rawseti(L, -3, id);
    if (!lua_isfunction(L, -1)) return 0;
    lua_call(L, 0, 0);
    return 0;
}

/* A QoS 1 publish got its PUBACK, a QoS 2 one its PUBCOMP [MQTT-4.3.2], [MQTT-4.3.3]: the
   broker owns the message now. Publishes without onpublished cost nothing here. */
static void lm_on_published(mqttc_client *c, const mqttc_ack_info *a, void *user) {
    lm_client *u = (lm_client *)(void *)c;
    lua_State *L = u->L;
    unsigned short id = a->packet_id;
    (void)user;
    if (!L || u->pub_callbacks == 0) return;
    lua_rawgeti(L, u->env, ENV_PENDING_PUB);
    lua_rawgeti(L, -1, id);
    int has_callback = !lua_isnil(L, -1);
    lua_pop(L, 2);
    if (!has_callback) return;
    u->pub_callbacks--;
    lua_rawgeti(L, u->env, ENV_CALL_PUBLISHED);
    lua_pushvalue(L, u->env);
    lua_pushinteger(L, id);
    lm_pcall(u, 2);
}

/* ---- connect: options, the userdata, the start of the connection ------------------------ */

/* addr as a LuaSocket-like object: its socket, dup'ed twice: one copy for the client, one
   we hold to shut the connection down when the client ends (the object stays the
   script's). Returns the client's copy, or -1. */
static int lm_dup_object_fd(int fd, int *hold_fd) {
    int mine = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    int hold = mine >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (hold < 0) {
        if (mine >= 0) close(mine);
        return -1;
    }
    *hold_fd = hold;
    return mine;
}

/* Starts the connection; the core completes it in step(). object_fd: addr's getfd(). */
static int lm_start(lua_State *L, lm_client *u, const lm_config *cfg, int object_fd) {
    uint64_t now = mqttc_now_ms();
    if (lua_type(L, 1) == LUA_TSTRING && strstr(lua_tostring(L, 1), "://")) /* mqtt[s]://, ws[s]:// */
        return mqttc_connect_url(&u->c, lua_tostring(L, 1), now);
    if (lua_type(L, 1) == LUA_TSTRING) {
        int port = cfg->port ? cfg->port : (cfg->is_secure ? 8883 : 1883);
        return mqttc_connect_start(&u->c, lua_tostring(L, 1), port, now);
    }
    if (lua_type(L, 1) == LUA_TNUMBER) return mqttc_adopt_fd(&u->c, (int)lua_tointeger(L, 1), now);
    int mine = lm_dup_object_fd(object_fd, &u->hold_fd);
    if (mine < 0) return MQTTC_ERR_IO;
    return mqttc_adopt_fd(&u->c, mine, now);
}

/* addr is an object: its getfd() (LuaSocket's spelling) gives the connected socket. */
static int lm_check_object(lua_State *L) {
    long long fd = -1;
    lua_getfield(L, 1, "getfd");
    if (!lua_isfunction(L, -1)) lm_typeerror(L, 1, 1, "connect", "string");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    if (!lm_isint(L, -1, 0, 1e9, &fd)) lm_argerror(L, 1, "connect", "socket is not connected");
    lua_pop(L, 1);
    return (int)fd;
}

/* Argument checks of connect(addr, onpub, op), in the order the caller wrote them. Returns
   the index of op (0: none); *object_fd gets the socket of an addr object. */
static int lm_check_connect_args(lua_State *L, int *object_fd) {
    int t = lua_type(L, 1);
    long long fd = -1;
    if (t == LUA_TNUMBER && !lm_isint(L, 1, 0, 1e9, &fd)) lm_argerror(L, 1, "connect", "not a socket descriptor");
    if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TTABLE && t != LUA_TUSERDATA)
        lm_typeerror(L, 1, 1, "connect", "string");
    if (t == LUA_TSTRING && lm_rawlen(L, 1) != strlen(lua_tostring(L, 1)))
        lm_argerror(L, 1, "connect", "host name contains a zero byte");
    *object_fd = t == LUA_TTABLE || t == LUA_TUSERDATA ? lm_check_object(L) : -1;
    if (!lua_isfunction(L, 2)) lm_typeerror(L, 2, 2, "connect", "function");
    if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3)) lm_typeerror(L, 3, 3, "connect", "table");
    return lua_istable(L, 3) ? 3 : 0;
}

/* The env table, onpub from index onpub. */
static void lm_new_env(lua_State *L, int onpub) {
    lua_createtable(L, ENV_KEEP + 6, 0);
    lua_pushvalue(L, onpub);
    lua_rawseti(L, -2, ENV_ONPUB);
    for (int i = ENV_ONSTATUS; i <= ENV_WILL; i++) {
        lua_pushboolean(L, 0);
        lua_rawseti(L, -2, i);
    }
    for (int i = ENV_HANDLERS; i <= ENV_PENDING_PUB; i++) {
        lua_newtable(L);
        lua_rawseti(L, -2, i);
    }
    lua_pushcfunction(L, lm_call_message);
    lua_rawseti(L, -2, ENV_CALL_MESSAGE);
    lua_pushcfunction(L, lm_call_suback);
    lua_rawseti(L, -2, ENV_CALL_SUBACK);
    lua_pushcfunction(L, lm_call_unsuback);
    lua_rawseti(L, -2, ENV_CALL_UNSUBACK);
    lua_pushcfunction(L, lm_call_published);
    lua_rawseti(L, -2, ENV_CALL_PUBLISHED);
}

/* C part of connect: checks every argument, makes the client and starts connecting.
   Returns the client (not yet connected; the Lua part steps it to CONNACK) or nil, err. */
static int m_connect_start(lua_State *L) {
    lm_config cfg;
    int object_fd;
    lua_settop(L, 3);
    int t = lm_check_connect_args(L, &object_fd);
    lm_new_env(L, 2); /* index 4 */
    lm_parse_options(L, t, 4, &cfg);
    lm_check_tls_fields(L, &cfg, 1);
    lm_client *u = (lm_client *)lua_newuserdata(L, sizeof *u); /* index 5 */
    memset(u, 0, sizeof *u);
    u->hold_fd = -1;
    u->is_freed = 1; /* nothing to release until mqttc_init succeeds */
    u->final_error = MQTTC_ERR_CLOSED;
    luaL_getmetatable(L, LM_CLIENT);
    lua_setmetatable(L, 5);
    lua_pushvalue(L, 4);
    lm_setuv(L, 5);
    /* no clientidentifier: the core's generated one ("mqttc" + 18 of [0-9a-zA-Z]) */
    cfg.o.on_message = lm_on_message;
    cfg.o.on_published = lm_on_published;
    lm_open_store(L, u, t ? lm_opttext(L, t, "store", "store", 4) : NULL, cfg.o.client_id, "id");
    if (u->store) cfg.o.store = &u->store->store;
    if (mqttc_init(&u->c, &cfg.o) != MQTTC_OK) {
        const char *bad = mqttc_bad_arg(&u->c);
        lm_close_store(u);
        return lm_init_error(L, t, bad ? bad : "");
    }
    u->is_freed = 0;
    int rc = lm_start(L, u, &cfg, object_fd);
    if (rc != MQTTC_OK) {
        /* copy the core's answer before the client is released */
        char bad[64];
        const char *b = rc == MQTTC_ERR_ARG ? mqttc_bad_arg(&u->c) : NULL;
        int sys_errno = rc == MQTTC_ERR_ARG ? mqttc_sys_errno(&u->c) : 0;
        snprintf(bad, sizeof bad, "%s", b ? b : "");
        lm_free(u, rc);
        if (rc == MQTTC_ERR_ARG) return lm_argument_error(L, t, bad, sys_errno);
        return lm_failure(L, rc);
    }
    lua_settop(L, 5);
    return 1;
}

/* ---- MQTT 5 properties: Lua tables <-> mqttc_props ------------------------------------- */

/* The property names of the Barracuda App Server's MQTT 5 client: the spec's names in lower
   case, without spaces. Any other string key is a user property. */
enum { LM_PB = 1, LM_P2, LM_P4, LM_PV, LM_PS, LM_PD };
static const struct lm_propname {
    const char *name;
    int id, type;
} lm_propnames[] = {
    {"payloadformatindicator", MQTTC_PROP_PAYLOAD_FORMAT, LM_PB},
    {"messageexpiryinterval", MQTTC_PROP_MESSAGE_EXPIRY, LM_P4},
    {"contenttype", MQTTC_PROP_CONTENT_TYPE, LM_PS},
    {"responsetopic", MQTTC_PROP_RESPONSE_TOPIC, LM_PS},
    {"correlationdata", MQTTC_PROP_CORRELATION_DATA, LM_PD},
    {"subscriptionidentifier", MQTTC_PROP_SUBSCRIPTION_ID, LM_PV},
    {"sessionexpiryinterval", MQTTC_PROP_SESSION_EXPIRY, LM_P4},
    {"assignedclientidentifier", MQTTC_PROP_ASSIGNED_CLIENT_ID, LM_PS},
    {"serverkeepalive", MQTTC_PROP_SERVER_KEEP_ALIVE, LM_P2},
    {"authenticationmethod", MQTTC_PROP_AUTH_METHOD, LM_PS},
    {"authenticationdata", MQTTC_PROP_AUTH_DATA, LM_PD},
    {"requestprobleminformation", MQTTC_PROP_REQUEST_PROBLEM_INFO, LM_PB},
    {"willdelayinterval", MQTTC_PROP_WILL_DELAY, LM_P4},
    {"requestresponseinformation", MQTTC_PROP_REQUEST_RESPONSE_INFO, LM_PB},
    {"responseinformation", MQTTC_PROP_RESPONSE_INFO, LM_PS},
    {"serverreference", MQTTC_PROP_SERVER_REFERENCE, LM_PS},
    {"reasonstring", MQTTC_PROP_REASON_STRING, LM_PS},
    {"receivemaximum", MQTTC_PROP_RECEIVE_MAX, LM_P2},
    {"topicaliasmaximum", MQTTC_PROP_TOPIC_ALIAS_MAX, LM_P2},
    {"topicalias", MQTTC_PROP_TOPIC_ALIAS, LM_P2},
    {"maximumqos", MQTTC_PROP_MAX_QOS, LM_PB},
    {"retainavailable", MQTTC_PROP_RETAIN_AVAILABLE, LM_PB},
    {"maximumpacketsize", MQTTC_PROP_MAX_PACKET_SIZE, LM_P4},
    {"wildcardsubscriptionavailable", MQTTC_PROP_WILDCARD_SUB_AVAILABLE, LM_PB},
    {"subscriptionidentifieravailable", MQTTC_PROP_SUB_ID_AVAILABLE, LM_PB},
    {"sharedsubscriptionavailable", MQTTC_PROP_SHARED_SUB_AVAILABLE, LM_PB},
};
#define LM_NPROPNAMES (sizeof lm_propnames / sizeof lm_propnames[0])

static const struct lm_propname *lm_prop_by_name(const char *name) {
    for (size_t i = 0; i < LM_NPROPNAMES; i++)
        if (strcmp(lm_propnames[i].name, name) == 0) return &lm_propnames[i];
    return NULL;
}

static const struct lm_propname *lm_prop_by_id(int id) {
    for (size_t i = 0; i < LM_NPROPNAMES; i++)
        if (lm_propnames[i].id == id) return &lm_propnames[i];
    return NULL;
}

/* t[key] = the value on top; a key already there (a repeated user property, several
   subscription identifiers) becomes a list of its values, in order. Pops the value. */
static void lm_props_add(lua_State *L, int t, const char *key, size_t klen) {
    lua_pushlstring(L, key, klen);
    lua_rawget(L, t);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushlstring(L, key, klen);
        lua_insert(L, -2);
        lua_rawset(L, t);
        return;
    }
    if (!lua_istable(L, -1)) { /* a second value: {first, second} */
        lua_createtable(L, 2, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, key, klen);
        lua_pushvalue(L, -2);
        lua_rawset(L, t);
    }
    lua_insert(L, -2); /* list, value */
    lua_rawseti(L, -2, (int)lm_rawlen(L, -2) + 1);
    lua_pop(L, 1);
}

/* Pushes a table of the properties in ps: numbers, strings (binary data too), user
   properties by their names. May raise (memory): call it protected. */
static void lm_push_props(lua_State *L, const mqttc_props *ps) {
    mqttc_prop p;
    size_t pos = 0;
    lua_newtable(L);
    int t = lua_gettop(L);
    while (ps && mqttc_props_next(ps, &pos, &p) == 1) {
        const struct lm_propname *pn = lm_prop_by_id(p.id);
        if (p.id == MQTTC_PROP_USER) {
            lua_pushlstring(L, p.val.ptr ? p.val.ptr : "", p.val.len);
            lm_props_add(L, t, p.str.ptr ? p.str.ptr : "", p.str.len);
            continue;
        }
        if (!pn) continue; /* (the decoder lets no unknown id through) */
        if (pn->type == LM_PS || pn->type == LM_PD) lua_pushlstring(L, p.str.ptr ? p.str.ptr : "", p.str.len);
        else lua_pushinteger(L, (lua_Integer)p.value);
        lm_props_add(L, t, pn->name, strlen(pn->name));
    }
}

/* One outgoing value of property pn from the value at idx; strings stay borrowed from Lua
   (the caller keeps them alive). Raises "<where>.<name>: ..." for a wrong type. */
static mqttc_prop lm_prop_value(lua_State *L, int idx, const struct lm_propname *pn, const char *where) {
    long long v = 0;
    size_t len = 0;
    if (pn->type == LM_PS || pn->type == LM_PD) {
        if (lua_type(L, idx) != LUA_TSTRING) lm_error(L, "%s.%s: expected string, got %s", where, pn->name, luaL_typename(L, idx));
        const char *str = lua_tolstring(L, idx, &len);
        return mqttc_prop_bin(pn->id, str, len);
    }
    if (pn->type == LM_PB && lua_type(L, idx) == LUA_TBOOLEAN) return mqttc_prop_int(pn->id, (uint32_t)lua_toboolean(L, idx));
    if (!lm_isint(L, idx, 0, 4294967295.0, &v)) lm_error(L, "%s.%s: expected a non-negative integer, got %s", where, pn->name,
                                                        lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx) : luaL_typename(L, idx));
    return mqttc_prop_int(pn->id, (uint32_t)v);
}

/* The properties table at idx as a mqttc_prop list, for a packet of this type (MQTTC_PUBLISH,
   ..., MQTTC_PROPS_WILL), checked by the spec's rules. Pushes one anchor table that holds
   the list (a userdata) and every string it points to: the list lives as long as the
   anchor (on the stack for a call, in env for what the client holds on to). Keys in skip
   (NULL-terminated; may be NULL) are left out: CONNECT's have options of their own. */
static mqttc_props lm_check_props(lua_State *L, int idx, int type, const char *where, const char *const *skip) {
    mqttc_props ps;
    size_t n = 0, count = 0;
    int anchor, a = 1;
    memset(&ps, 0, sizeof ps);
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* the room needed: a list of values takes one each */
        n += lua_istable(L, -1) ? lm_rawlen(L, -1) : 1;
        lua_pop(L, 1);
    }
    lua_newtable(L);
    anchor = lua_gettop(L);
    mqttc_prop *list = (mqttc_prop *)lua_newuserdata(L, (n ? n : 1) * sizeof *list);
    lua_rawseti(L, anchor, a++);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int v = lua_gettop(L);
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        const char *const *k = skip;
        if (!key) lm_error(L, "%s: property names are strings (got a %s key)", where, luaL_typename(L, -2));
        while (k && *k && strcmp(*k, key) != 0) k++;
        if (k && *k) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_rawseti(L, anchor, a++); /* the key */
        const struct lm_propname *pn = lm_prop_by_name(key);
        size_t m = lua_istable(L, v) ? lm_rawlen(L, v) : 1;
        for (size_t i = 1; i <= m; i++) {
            size_t vlen = 0;
            if (lua_istable(L, v)) lua_rawgeti(L, v, (int)i);
            else lua_pushvalue(L, v);
            if (count >= n) lm_error(L, "%s: the table changed while it was read", where);
            if (pn) {
                list[count++] = lm_prop_value(L, -1, pn, where);
            } else { /* any other name: a user property, name = value (a list: repeated) */
                if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
                    lm_error(L, "%s.%s: a user property's value is a string, got %s", where, key, luaL_typename(L, -1));
                const char *val = lua_tolstring(L, -1, &vlen); /* (a number becomes its string here) */
                list[count].id = MQTTC_PROP_USER;
                list[count].value = 0;
                list[count].str.ptr = key;
                list[count].str.len = strlen(key);
                list[count].val.ptr = val;
                list[count].val.len = vlen;
                count++;
            }
            lua_rawseti(L, anchor, a++); /* the value (strings: the list points into them) */
        }
        lua_settop(L, v - 1);
    }
    ps.list = list;
    ps.count = count;
    if (count && mqttc_props_check(&ps, type) != MQTTC_OK)
        lm_error(L, "%s: not valid in this packet (a property MQTT 5 does not allow here, repeated, or out of range)", where);
    return ps;
}

/* ---- create(): the MQTT 5 client that stays connected ----------------------------------- */

/* The will of setwill(), into the client (only while no connection is open). Its strings
   and properties are anchored in env (ENV_WILL). */
static void lm_apply_will(lm_client *u) {
    u->will_due = 0;
    (void)mqttc_set_will(&u->c, u->will_topic, u->will_payload, u->will_len, u->will_qos, u->will_retain);
    (void)mqttc_set_will_props(&u->c, &u->will_props); /* (checked when setwill took them) */
}

/* options.on_status: kept for onstatus, which runs once the core has returned (lm_deliver):
   the core may tell it from any call (a publish that found the link dead, the connect in
   create()), where no Lua callback may run. The core's plan (retry_ms) stands until then;
   onstatus then changes it (lm_decide). */
static void lm_on_status(mqttc_client *c, const mqttc_status *st, void *user) {
    lm_client *u = (lm_client *)(void *)c;
    (void)user;
    if (u->will_due && st->event != MQTTC_EVENT_CONNECTED && mqttc_state(c) == MQTTC_STATE_CLOSED) {
        lm_apply_will(u); /* setwill() while it was open: for the next connection */
    }
    if (u->is_stopped && st->event != MQTTC_EVENT_CONNECTED) return; /* our own end */
    if (u->nstatus == (int)(sizeof u->status / sizeof u->status[0])) { /* full: the oldest goes */
        free(u->status[0].props);
        memmove(&u->status[0], &u->status[1], sizeof u->status - sizeof u->status[0]);
        u->nstatus--;
    }
    lm_event *s = &u->status[u->nstatus];
    memset(s, 0, sizeof *s);
    s->event = st->event;
    s->error = st->error;
    s->reason_code = st->reason_code;
    s->session_present = st->session_present;
    s->retry_ms = st->retry_ms;
    if (st->props.len && st->props.ptr && (s->props = (unsigned char *)malloc(st->props.len)) != NULL) {
        memcpy(s->props, st->props.ptr, st->props.len);
        s->props_len = st->props.len;
    }
    u->nstatus++;
}

/* Protected: (onstatus, status) -> onstatus(type, code [, table]) and its first result. */
static int lm_call_status(lua_State *L) {
    lm_client *u = (lm_client *)lua_touserdata(L, 2);
    lm_event *s = &u->status[0];
    mqttc_props ps;
    int nargs = 2;
    memset(&ps, 0, sizeof ps);
    ps.ptr = s->props;
    ps.len = s->props_len;
    lua_settop(L, 1);
    if (s->event == MQTTC_EVENT_CONNECTED || s->error == MQTTC_ERR_REFUSED) { /* every CONNACK */
        lua_pushliteral(L, "mqtt");
        lua_pushliteral(L, "connect");
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, s->event == MQTTC_EVENT_CONNECTED ? 0 : s->reason_code);
        lua_setfield(L, -2, "reasoncode");
        lua_pushboolean(L, s->session_present);
        lua_setfield(L, -2, "sessionpresent");
        lm_push_props(L, &ps);
        lua_setfield(L, -2, "properties");
        nargs = 3;
    } else if (s->error == MQTTC_ERR_SERVER_DISCONNECT) { /* the broker's DISCONNECT */
        lua_pushliteral(L, "mqtt");
        lua_pushliteral(L, "disconnect");
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, s->reason_code);
        lua_setfield(L, -2, "reasoncode");
        lm_push_props(L, &ps);
        lua_setfield(L, -2, "properties");
        nargs = 3;
    } else if (s->error == MQTTC_ERR_PROTOCOL || s->error == MQTTC_ERR_MALFORMED || s->error == MQTTC_ERR_OVERFLOW ||
               s->error == MQTTC_ERR_INVALIDRESP) {
        lua_pushliteral(L, "mqtt");
        lua_pushliteral(L, "protocolerror");
    } else if (s->error == MQTTC_ERR_PINGRESP) {
        lua_pushliteral(L, "mqtt");
        lua_pushliteral(L, "pingtimeout");
    } else { /* the socket, TLS, a proxy, WebSocket, or the addr function's own words */
        lua_pushliteral(L, "sock");
        if (s->error == MQTTC_ERR_CANNOTCONNECT && u->sock_err[0]) lua_pushstring(L, u->sock_err);
        else lua_pushstring(L, mqttc_errname(s->error));
    }
    lua_call(L, nargs, 1);
    return 1;
}

/* The delay for attempt n when onstatus says true but the core would stop (a refusal, an
   untrusted certificate: onstatus decides): 5 s doubling to 60 s, as the core's own
   schedule, halved by up to half at random. */
static long lm_backoff(lm_client *u) {
    long d = 5000;
    for (unsigned i = 0; i < u->attempt && d < 60000; i++) d *= 2;
    if (d > 60000) d = 60000;
    uint32_t x = (uint32_t)mqttc_now_ms() ^ (uint32_t)(uintptr_t)u ^ (u->attempt * 2654435761u); /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return d / 2 + (long)(x % (uint32_t)(d / 2 + 1));
}

/* onstatus returned v (top of the stack, popped) for the status s: the plan. true: the
   core's schedule (or ours, lm_backoff, where the core would stop); a number: that many
   seconds; false or nil: stop. For a CONNACK that accepted, nothing to decide. */
static void lm_decide(lua_State *L, lm_client *u, const lm_event *s) {
    long ms = -1;
    if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) >= 0) ms = (long)(lua_tonumber(L, -1) * 1000.0 + 0.5);
    else if (lua_toboolean(L, -1)) ms = s->retry_ms >= 0 ? s->retry_ms : lm_backoff(u);
    lua_pop(L, 1);
    if (s->event == MQTTC_EVENT_CONNECTED || u->is_freed || u->is_stopped) return;
    if (mqttc_state(&u->c) == MQTTC_STATE_WAITING) {
        mqttc_set_retry(&u->c, ms); /* ms, or -1: CLOSED */
    } else if (mqttc_state(&u->c) == MQTTC_STATE_CLOSED && ms >= 0) {
        u->restart_at_ms = mqttc_now_ms() + (uint64_t)ms; /* lm_restart dials then */
    }
}

/* Tells onstatus what the core told us, oldest first; inside the step's context (u->L,
   u->env, u->err_slot set, in_step on), so a callback's error waits like the others. */
static void lm_deliver(lm_client *u) {
    lua_State *L = u->L;
    while (u->nstatus > 0 && !u->is_freed) {
        lm_event s = u->status[0];
        if (s.event == MQTTC_EVENT_CONNECTED) u->attempt = 0;
        else u->attempt++;
        lua_pushcfunction(L, lm_call_status);
        lua_rawgeti(L, u->env, ENV_ONSTATUS);
        lua_pushlightuserdata(L, u);
        if (lua_pcall(L, 2, 1, 0) != 0) {
            if (!u->has_error) {
                lua_replace(L, u->err_slot);
                u->has_error = 1;
            } else {
                lua_pop(L, 1);
            }
            lua_pushnil(L); /* onstatus raised: the error ends run(), and the client stops */
        }
        free(s.props);
        u->nstatus--;
        memmove(&u->status[0], &u->status[1], (size_t)u->nstatus * sizeof u->status[0]);
        lm_decide(L, u, &s);
    }
}

/* A transport that fails at once: the first connect of an addr function that gave no
   socket, so that it fails as any connect does (onstatus hears it, the plan follows). */
static int lm_nosock_io(mqttc_transport *t, const unsigned char *b, size_t len, size_t *n) {
    (void)t, (void)b, (void)len;
    *n = 0;
    return MQTTC_ERR_CLOSED;
}
static int lm_nosock_recv(mqttc_transport *t, unsigned char *b, size_t cap, size_t *n) {
    (void)t, (void)b, (void)cap;
    *n = 0;
    return MQTTC_ERR_CLOSED;
}
static int lm_nosock_handshake(mqttc_transport *t) {
    (void)t;
    return MQTTC_ERR_CANNOTCONNECT;
}
static void lm_nosock_close(mqttc_transport *t) { (void)t; }

/* Protected: (f) -> f() adjusted to 2 results. */
static int lm_call_addr(lua_State *L) {
    lua_settop(L, 1);
    lua_call(L, 0, 2);
    return 2;
}

/* Calls the addr function of create() for a socket: an fd (the client's from now on), an
   object with getfd() (LuaSocket: a dup is the client's, the object stays the script's), or
   nil, err. Returns the fd, or -1 with u->sock_err saying why. */
static int lm_addr_socket(lua_State *L, lm_client *u, int env) {
    long long fd = -1;
    int top = lua_gettop(L);
    u->sock_err[0] = '\0';
    lua_pushcfunction(L, lm_call_addr);
    lua_rawgeti(L, env, ENV_ADDR);
    if (lua_pcall(L, 1, 2, 0) != 0) {
        snprintf(u->sock_err, sizeof u->sock_err, "addr function: %s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "error");
    } else if (lua_type(L, -2) == LUA_TNUMBER && lm_isint(L, -2, 0, 1e9, &fd)) {
        lua_settop(L, top);
        return (int)fd;
    } else if (lua_type(L, -2) == LUA_TTABLE || lua_type(L, -2) == LUA_TUSERDATA) {
        lua_getfield(L, -2, "getfd");
        if (lua_isfunction(L, -1)) {
            lua_pushvalue(L, -3);
            if (lua_pcall(L, 1, 1, 0) == 0 && lm_isint(L, -1, 0, 1e9, &fd)) {
                if (u->hold_fd >= 0) close(u->hold_fd); /* the last connection's, closed by now */
                u->hold_fd = -1;
                int mine = lm_dup_object_fd((int)fd, &u->hold_fd);
                lua_settop(L, top);
                if (mine >= 0) return mine;
                snprintf(u->sock_err, sizeof u->sock_err, "addr function: cannot dup the socket (%s)", strerror(errno));
                return -1;
            }
        }
        snprintf(u->sock_err, sizeof u->sock_err, "addr function: the object has no open socket (getfd)");
    } else {
        const char *why = lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL;
        snprintf(u->sock_err, sizeof u->sock_err, "%s", why ? why : "addr function: no socket");
    }
    lua_settop(L, top);
    return -1;
}

/* options.reconnect_transport for an addr function: dialling again is calling it again
   (inside step: u->L is the stepping thread). */
static int lm_reconnect_transport(mqttc_client *c, mqttc_transport *t, void *user) {
    lm_client *u = (lm_client *)(void *)c;
    (void)user;
    if (!u->L) return MQTTC_ERR_CANNOTCONNECT;
    int fd = lm_addr_socket(u->L, u, u->env);
    if (fd < 0) return MQTTC_ERR_CANNOTCONNECT;
    return mqttc_tcp_transport(t, fd); /* the core's own TCP stage over a connected socket */
}

/* Starts a connection to create()'s address: the host and port, the URL, or the socket of
   the addr function. A connect that fails is told to onstatus like any other. */
static int lm_dial(lua_State *L, lm_client *u, int env) {
    uint64_t now = mqttc_now_ms();
    lua_rawgeti(L, env, ENV_ADDR);
    const char *addr = lua_tostring(L, -1); /* (kept in env) */
    lua_pop(L, 1);
    if (u->addr_kind == LM_ADDR_HOST) return mqttc_connect_start(&u->c, addr, u->port, now);
    if (u->addr_kind == LM_ADDR_URL) return mqttc_connect_url(&u->c, addr, now);
    int fd = lm_addr_socket(L, u, env);
    if (fd >= 0) return mqttc_adopt_fd(&u->c, fd, now);
    mqttc_transport t;
    memset(&t, 0, sizeof t);
    t.send = lm_nosock_io;
    t.recv = lm_nosock_recv;
    t.handshake = lm_nosock_handshake;
    t.close = lm_nosock_close;
    t.fd = -1;
    return mqttc_start_transport(&u->c, &t, now);
}

/* A no-op onpub, when create() got none (ENV_ONPUB must not be nil: see lm_new_env). */
static int lm_noop(lua_State *L) {
    (void)L;
    return 0;
}

/* opt.will = {topic=, payload= (or message=), qos=, retain=, properties=} for create() and
   setwill(): into u's will fields; strings and properties anchored in the table at keep. */
static void lm_parse_will5(lua_State *L, int w, int keep, lm_client *u, const char *where) {
    static const char *const keys[] = {"topic", "payload", "message", "qos", "retain", "properties", NULL};
    size_t len = 0;
    lm_check_keys(L, w, where, keys);
    u->will_topic = lm_required(L, lm_opttext(L, w, "topic", "will.topic", keep), "will.topic");
    u->will_payload = lm_optstring(L, w, "payload", "will.payload", keep, &len);
    if (!u->will_payload) u->will_payload = lm_optstring(L, w, "message", "will.message", keep, &len);
    if (!u->will_payload) u->will_payload = "";
    u->will_len = len;
    u->will_qos = (int)lm_optint(L, w, "qos", "will.qos", 0, 2, 0);
    u->will_retain = lm_optbool(L, w, "retain", "will.retain", 0);
    memset(&u->will_props, 0, sizeof u->will_props);
    if (lm_field(L, w, "properties")) {
        if (!lua_istable(L, -1)) lm_opterror(L, "will.properties", "table", -1);
        u->will_props = lm_check_props(L, -1, MQTTC_PROPS_WILL, "opt.will.properties", NULL);
        lua_rawseti(L, keep, (int)lm_rawlen(L, keep) + 1); /* the anchor */
        lua_pop(L, 1);
    }
    if (mqttc_topic_check(u->will_topic, strlen(u->will_topic)) != MQTTC_OK)
        lm_error(L, "opt.will.topic: not a valid topic name");
}

/* The keys of create()'s opt: the vendor's, and ours (TLS files, proxy, maxqueue). */
static const char *const lm_option5_keys[] = {
    "clientidentifier", "keepalive", "username", "password", "will", "secure", "port", "timeout", "nocheck",
    "alpn", "cafile", "capath", "cert", "key", "servername", "proxy", "maxqueue", "shark", "verify",
    "pingtimeout", "maxinflight", "disconnecttimeout", "store", NULL};

/* create()'s default queue bound: publishes accepted while offline, in bytes. */
#define LM_DEFAULT_MAXQUEUE (1024 * 1024)

/* CONNECT properties that are options of the core (so they are real properties, with the
   client keeping to them): taken out of prop by lm_parse_create. */
static const char *const lm_connect_fields[] = {"sessionexpiryinterval", "receivemaximum", "maximumpacketsize",
                                                 "topicaliasmaximum", NULL};

/* create()'s opt (at t, 0: none) and prop (at p, 0: none) into cfg and u. */
static void lm_parse_create(lua_State *L, int t, int p, int env, lm_config *cfg, lm_client *u) {
    mqttc_options *o = &cfg->o;
    size_t len = 0;
    long long v = 0;
    memset(cfg, 0, sizeof *cfg);
    o->keepalive_s = 60; /* not the vendor's 0: a dead link must be noticed to reconnect */
    o->max_inflight = LM_DEFAULT_INFLIGHT;
    o->queue_bytes = LM_DEFAULT_MAXQUEUE;
    if (t) {
        lm_check_keys(L, t, "opt", lm_option5_keys);
        lm_parse_tls(L, t, env, cfg);
        cfg->nocheck = lm_optbool(L, t, "nocheck", "nocheck", 0);
        cfg->o.tls_alpn = lm_opttext(L, t, "alpn", "alpn", env); /* checked by mqttc_init */
        cfg->port = (int)lm_optint(L, t, "port", "port", 1, 65535, 0);
        long long ka = lm_optint(L, t, "keepalive", "keepalive", 0, 65535, 60);
        o->keepalive_s = (unsigned)ka;
        o->no_keepalive = ka == 0;
        o->client_id = lm_opttext(L, t, "clientidentifier", "clientidentifier", env);
        o->username = lm_opttext(L, t, "username", "username", env);
        o->password = lm_optstring(L, t, "password", "password", env, &len);
        o->password_len = len;
        o->proxy = lm_opttext(L, t, "proxy", "proxy", env);
        o->queue_bytes = (size_t)lm_optint(L, t, "maxqueue", "maxqueue", 0, 1e15, LM_DEFAULT_MAXQUEUE);
        o->connect_timeout_ms = lm_optseconds(L, t, "timeout", 0);
        o->ping_timeout_ms = lm_optseconds(L, t, "pingtimeout", 0);
        o->max_inflight = (unsigned)lm_optint(L, t, "maxinflight", "maxinflight", 1, 65535, LM_DEFAULT_INFLIGHT);
        o->disconnect_timeout_ms = lm_optseconds(L, t, "disconnecttimeout", 0);
        if (lm_field(L, t, "will")) {
            if (!lua_istable(L, -1)) lm_opterror(L, "will", "table", -1);
            lm_parse_will5(L, lua_gettop(L), env, u, "opt.will");
            lua_pop(L, 1);
            o->will_topic = u->will_topic;
            o->will_payload = u->will_payload;
            o->will_payload_len = u->will_len;
            o->will_qos = u->will_qos;
            o->will_retain = u->will_retain;
            o->will_props = u->will_props;
        }
    }
    if (!p) return;
    /* the CONNECT properties the core keeps to itself are options */
    if (lm_field(L, p, "sessionexpiryinterval")) {
        if (!lm_isint(L, -1, 0, 4294967295.0, &v)) lm_error(L, "prop.sessionexpiryinterval: expected an integer in 0..4294967295");
        o->session_expiry_s = (uint32_t)v;
        lua_pop(L, 1);
    }
    if (lm_field(L, p, "receivemaximum")) {
        if (!lm_isint(L, -1, 1, 65535, &v)) lm_error(L, "prop.receivemaximum: expected an integer in 1..65535");
        o->max_inflight_in = (unsigned)v;
        lua_pop(L, 1);
    }
    if (lm_field(L, p, "maximumpacketsize")) {
        if (!lm_isint(L, -1, 16, 268435460.0, &v)) lm_error(L, "prop.maximumpacketsize: expected an integer in 16..268435460");
        o->max_packet_size = (size_t)v;
        lua_pop(L, 1);
    }
    if (lm_field(L, p, "topicaliasmaximum")) {
        if (!lm_isint(L, -1, 0, 65535, &v)) lm_error(L, "prop.topicaliasmaximum: expected an integer in 0..65535");
        o->topic_alias_in = (unsigned)v;
        lua_pop(L, 1);
    }
    o->connect_props = lm_check_props(L, p, MQTTC_CONNECT, "prop", lm_connect_fields);
    lua_rawseti(L, env, (int)lm_rawlen(L, env) + 1); /* the anchor: the client holds them */
}

/* C part of create(addr, onstatus [, onpub] [, opt [, prop]]): checks every argument,
   makes the client and starts the first connect; nothing more happens until a step. */
static int m_create(lua_State *L) {
    lm_config cfg;
    lua_settop(L, 5);
    if (lua_istable(L, 3)) { /* create(addr, onstatus, opt [, prop]) */
        lua_pushnil(L);
        lua_insert(L, 3);
        lua_settop(L, 5);
    }
    int at = lua_type(L, 1);
    if (at != LUA_TSTRING && at != LUA_TFUNCTION) lm_typeerror(L, 1, 1, "create", "string or function");
    if (at == LUA_TSTRING && lm_rawlen(L, 1) != strlen(lua_tostring(L, 1)))
        lm_argerror(L, 1, "create", "address contains a zero byte");
    if (!lua_isfunction(L, 2)) lm_typeerror(L, 2, 2, "create", "function");
    if (!lua_isnil(L, 3) && !lua_isfunction(L, 3)) lm_typeerror(L, 3, 3, "create", "function");
    if (!lua_isnil(L, 4) && !lua_istable(L, 4)) lm_typeerror(L, 4, 4, "create", "table");
    if (!lua_isnil(L, 5) && !lua_istable(L, 5)) lm_typeerror(L, 5, 5, "create", "table");
    if (lua_isnil(L, 3)) {
        lua_pushcfunction(L, lm_noop);
        lua_replace(L, 3);
    }
    lm_new_env(L, 3); /* 6 */
    lua_pushvalue(L, 2);
    lua_rawseti(L, 6, ENV_ONSTATUS);
    lua_pushvalue(L, 1);
    lua_rawseti(L, 6, ENV_ADDR);
    lm_client *u = (lm_client *)lua_newuserdata(L, sizeof *u); /* 7 */
    memset(u, 0, sizeof *u);
    u->hold_fd = -1;
    u->is_freed = 1; /* nothing to release until mqttc_init succeeds */
    u->final_error = MQTTC_ERR_CLOSED;
    u->is_v5 = 1;
    luaL_getmetatable(L, LM_CLIENT);
    lua_setmetatable(L, 7);
    lua_pushvalue(L, 6);
    lm_setuv(L, 7);
    lm_parse_create(L, lua_istable(L, 4) ? 4 : 0, lua_istable(L, 5) ? 5 : 0, 6, &cfg, u);
    if (at == LUA_TFUNCTION) u->addr_kind = LM_ADDR_FUNCTION;
    else u->addr_kind = strstr(lua_tostring(L, 1), "://") ? LM_ADDR_URL : LM_ADDR_HOST;
    u->port = cfg.port;
    /* TLS (opt.secure, mqtts://, wss://): the broker's certificate is checked on every
       connection unless opt.nocheck (with credentials always: the seed's rule) */
    lm_check_tls_fields(L, &cfg, 1);
    if (cfg.o.secure || (u->addr_kind == LM_ADDR_URL && (strncmp(lua_tostring(L, 1), "mqtts:", 6) == 0 ||
                                                        strncmp(lua_tostring(L, 1), "wss:", 4) == 0)))
        cfg.o.tls_verify = !cfg.nocheck;
    cfg.o.protocol_version = MQTTC_PROTOCOL_5;
    cfg.o.on_message = lm_on_message;
    cfg.o.on_published = lm_on_published;
    cfg.o.on_status = lm_on_status;
    cfg.o.reconnect_min_ms = 5000; /* onstatus returning true: from 5 s, doubling */
    cfg.o.reconnect_max_ms = 60000;
    cfg.o.reconnect_first = 1;     /* the first connect too: onstatus decides */
    if (u->addr_kind == LM_ADDR_FUNCTION) cfg.o.reconnect_transport = lm_reconnect_transport;
    lm_open_store(L, u, lua_istable(L, 4) ? lm_opttext(L, 4, "store", "store", 6) : NULL, cfg.o.client_id,
                  "clientidentifier");
    if (u->store) cfg.o.store = &u->store->store;
    if (mqttc_init(&u->c, &cfg.o) != MQTTC_OK) {
        const char *bad = mqttc_bad_arg(&u->c);
        lm_close_store(u);
        return lm_init_error(L, lua_istable(L, 4) ? 4 : 0, bad ? bad : "");
    }
    u->is_freed = 0;
    int rc = lm_dial(L, u, 6);
    if (rc == MQTTC_ERR_ARG) {
        char bad[64];
        const char *b = mqttc_bad_arg(&u->c);
        snprintf(bad, sizeof bad, "%s", b ? b : "");
        lm_free(u, rc);
        if (strcmp(bad, "url") == 0) return lm_argerror(L, 1, "create", "not a broker URL (mqtt://, mqtts://, ws://, wss://)");
        return lm_argument_error(L, lua_istable(L, 4) ? 4 : 0, bad, 0);
    }
    /* any other failure is the first connect's: onstatus hears it at the first step */
    lua_settop(L, 7);
    return 1;
}

/* setwill(w): the will of the next connections (w = {topic=, payload=, qos=, retain=,
   properties=}; nil or false: none). The broker holds the will it got in CONNECT: a new one
   takes effect at the next connect (at once while no connection is open). */
static int m_setwill(lua_State *L) {
    lm_client *u = lm_check(L, "setwill");
    lua_settop(L, 2);
    if (!u->is_v5) return lm_error(L, "mqttc: setwill() is a method of create()'s clients");
    if (lua_toboolean(L, 2) && !lua_istable(L, 2)) lm_typeerror(L, 2, 1, "setwill", "table");
    lua_newtable(L); /* 3: the new anchor */
    if (lua_istable(L, 2)) lm_parse_will5(L, 2, 3, u, "will");
    else {
        u->will_topic = NULL;
        u->will_payload = NULL;
        u->will_len = 0;
        u->will_qos = u->will_retain = 0;
        memset(&u->will_props, 0, sizeof u->will_props);
    }
    lm_getuv(L, 1);
    lua_pushvalue(L, 3);
    lua_rawseti(L, -2, ENV_WILL);
    u->will_due = 1;
    int state = lm_state(u);
    if (!u->is_freed && (state == MQTTC_STATE_WAITING || state == MQTTC_STATE_CLOSED || state == MQTTC_STATE_IDLE))
        lm_apply_will(u);
    lua_pushboolean(L, 1);
    return 1;
}

/* status() -> queued, connected, disconnected: publishes held (offline or past the window),
   whether a connection is up now, and whether the client has stopped for good. */
static int m_status(lua_State *L) {
    lm_client *u = lm_check(L, "status");
    int state = lm_state(u);
    lua_pushinteger(L, u->is_freed ? 0 : (lua_Integer)mqttc_queued(&u->c));
    lua_pushboolean(L, state == MQTTC_STATE_CONNECTED);
    lua_pushboolean(L, u->is_freed || (state == MQTTC_STATE_CLOSED && !u->restart_at_ms && !u->nstatus));
    return 3;
}

/* ---- methods, in table order ------------------------------------------------------------ */

/* The table at idx has only keys of an options table (keys, NULL-terminated), or is
   empty: then (topic, msg, t) is options, else properties. */
static int lm_is_options(lua_State *L, int idx, const char *const *keys) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        const char *const *k = keys;
        lua_pop(L, 1);
        while (key && *k && strcmp(*k, key) != 0) k++;
        if (!key || !*k) {
            lua_pop(L, 1);
            return 0;
        }
    }
    return 1;
}

/* publish(topic, msg [, {qos=, retain=, onpublished=}]) -> true | nil, err. onpublished()
   runs once the broker has acknowledged the QoS 1/2 message (never if the connection ends
   first: inflight() then counts it). */
static int m_publish(lua_State *L) {
    static const char *const keys[] = {"qos", "retain", "onpublished", NULL};
    lm_client *u = lm_check(L, "publish");
    size_t tlen, len;
    const char *topic = lm_checkstring(L, 2, 1, "publish", &tlen);
    const char *msg = lm_checkstring(L, 3, 2, "publish", &len);
    int qos = 0, retain = 0, onpublished = 0;
    mqttc_publish_info pi;
    lua_settop(L, 5);
    if (u->is_v5 && lua_istable(L, 4) && lua_isnil(L, 5) && !lm_is_options(L, 4, keys)) { /* (topic, msg, prop) */
        lua_pushnil(L);
        lua_insert(L, 4);
        lua_settop(L, 5);
    }
    if (!lua_isnil(L, 4)) {
        if (!lua_istable(L, 4)) lm_typeerror(L, 4, 3, "publish", "table");
        lm_check_keys(L, 4, "opt", keys);
        qos = (int)lm_optint(L, 4, "qos", "qos", 0, 2, 0);
        retain = lm_optbool(L, 4, "retain", "retain", 0);
        if (lm_field(L, 4, "onpublished")) {
            if (!lua_isfunction(L, -1)) lm_opterror(L, "onpublished", "function", -1);
            if (qos == 0) lm_error(L, "opt.onpublished: needs qos 1 or 2 (a QoS 0 message is never acknowledged)");
            onpublished = lua_gettop(L);
        }
    }
    memset(&pi, 0, sizeof pi);
    if (!lua_isnil(L, 5)) {
        if (!u->is_v5) lm_argerror(L, 4, "publish", "properties need an MQTT 5 client (create)");
        if (!lua_istable(L, 5)) lm_typeerror(L, 5, 4, "publish", "table");
        pi.props = lm_check_props(L, 5, MQTTC_PUBLISH, "prop", NULL); /* (its anchor stays on the stack) */
    }
    if (strlen(topic) != tlen || mqttc_topic_check(topic, tlen) != MQTTC_OK)
        lm_argerror(L, 1, "publish", "invalid topic name");
    if (len > 268435455u - 4u - tlen) lm_argerror(L, 2, "publish", "message too large");
    if (lm_end_reason(u)) return lm_failure(L, lm_end_reason(u));
    lm_uncqueue(L, u);
    unsigned short id = 0;
    pi.topic = topic;
    pi.topic_len = tlen;
    pi.payload = msg;
    pi.payload_len = len;
    pi.qos = qos;
    pi.retain = retain;
    int was_up = lm_state(u) == MQTTC_STATE_CONNECTED;
    int rc = mqttc_publish_with(&u->c, &pi, &id);
    if (rc == MQTTC_OK && onpublished) { /* the ack cannot come before this: it comes in a step */
        lm_getuv(L, 1);
        lua_rawgeti(L, -1, ENV_PENDING_PUB);
        lua_pushvalue(L, onpublished);
        lua_rawseti(L, -2, id);
        u->pub_callbacks++;
    }
    if (rc == MQTTC_OK && u->is_v5 && !was_up) { /* create(): held until connected */
        lm_settle(u);
        lua_pushboolean(L, 0);
        return 1;
    }
    return lm_status(L, u, rc);
}

/* Records a request's callback and filter under its packet id, for the SUBACK/UNSUBACK. */
static void lm_remember_request(lua_State *L, int env, unsigned short id, int cb, int filter) {
    lua_rawgeti(L, env, ENV_PENDING_CB);
    if (cb) lua_pushvalue(L, cb);
    else lua_pushboolean(L, 0);
    lua_rawseti(L, -2, id);
    lua_rawgeti(L, env, ENV_PENDING_FILTER);
    lua_pushvalue(L, filter);
    lua_rawseti(L, -2, id);
    lua_pop(L, 2);
}

/* The ref of filter's handler: the one it has, or a new one. */
static int lm_filter_ref(lua_State *L, lm_client *u, int env, int filter) {
    lua_rawgeti(L, env, ENV_FILTERS);
    lua_pushvalue(L, filter);
    lua_rawget(L, -2);
    int ref = lua_isnil(L, -1) ? ++u->next_ref : (int)lua_tointeger(L, -1);
    lua_pop(L, 2);
    return ref;
}

static void lm_set_handler(lua_State *L, int env, int filter, int ref, int fn) {
    lua_rawgeti(L, env, ENV_FILTERS);
    lua_pushvalue(L, filter);
    lua_pushinteger(L, ref);
    lua_rawset(L, -3);
    lua_rawgeti(L, env, ENV_HANDLERS);
    lua_pushvalue(L, fn);
    lua_rawseti(L, -2, ref);
    lua_pop(L, 2);
}

/* The filter at index filter has no per-filter onpub any more. */
static void lm_drop_handler(lua_State *L, int env, int filter) {
    lua_rawgeti(L, env, ENV_FILTERS);
    lua_pushvalue(L, filter);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1)) {
        lua_rawgeti(L, env, ENV_HANDLERS);
        lua_pushvalue(L, -2);
        lua_pushnil(L);
        lua_rawset(L, -3);
        lua_pop(L, 1);
        lua_pushvalue(L, filter);
        lua_pushnil(L);
        lua_rawset(L, -4);
    }
    lua_pop(L, 2);
}

/* subscribe(filter [, onsuback] [, {qos=, onpub=}]) -> true | nil, err. The original's
   subscribe(topic, {onpub=f}) works too. */
static int m_subscribe(lua_State *L) {
    static const char *const keys[] = {"qos", "onpub", NULL};
    static const char *const keys5[] = {"qos", "onpub", "nolocal", "retainaspublished", "retainhandling", NULL};
    lm_client *u = lm_check(L, "subscribe");
    size_t flen;
    const char *filter = lm_checkstring(L, 2, 1, "subscribe", &flen);
    mqttc_subscribe_info si;
    unsigned char options = 0;
    memset(&si, 0, sizeof si);
    lua_settop(L, 5);
    if (lua_istable(L, 3)) { /* (filter, opts [, prop]) */
        lua_pushnil(L);
        lua_insert(L, 3);
        lua_settop(L, 5);
    }
    if (!lua_isnil(L, 3) && !lua_isfunction(L, 3)) lm_typeerror(L, 3, 2, "subscribe", "function");
    if (!lua_isnil(L, 4) && !lua_istable(L, 4)) lm_typeerror(L, 4, 3, "subscribe", "table");
    int qos = 0, onpub = 0;
    if (lua_istable(L, 4)) {
        lm_check_keys(L, 4, "opt", u->is_v5 ? keys5 : keys);
        qos = (int)lm_optint(L, 4, "qos", "qos", 0, 2, 0);
        if (lm_field(L, 4, "onpub")) {
            if (!lua_isfunction(L, -1)) lm_opterror(L, "onpub", "function", -1);
            onpub = lua_gettop(L);
        }
        /* MQTT 5 subscription options, each on its own [MQTT-3.8.3.1] */
        if (lm_optbool(L, 4, "nolocal", "nolocal", 0)) options |= MQTTC_SUB_NO_LOCAL;
        if (lm_optbool(L, 4, "retainaspublished", "retainaspublished", 0)) options |= MQTTC_SUB_RETAIN_AS_PUBLISHED;
        options |= (unsigned char)MQTTC_SUB_RETAIN_HANDLING(lm_optint(L, 4, "retainhandling", "retainhandling", 0, 2, 0));
    }
    if (!lua_isnil(L, 5)) {
        if (!u->is_v5) lm_argerror(L, 4, "subscribe", "properties need an MQTT 5 client (create)");
        if (!lua_istable(L, 5)) lm_typeerror(L, 5, 4, "subscribe", "table");
        si.props = lm_check_props(L, 5, MQTTC_SUBSCRIBE, "prop", NULL); /* (its anchor stays on the stack) */
    }
    if (strlen(filter) != flen || mqttc_filter_check(filter, flen) != MQTTC_OK)
        lm_argerror(L, 1, "subscribe", "invalid topic filter");
    if (lm_end_reason(u)) return lm_failure(L, lm_end_reason(u));
    lm_uncqueue(L, u);
    lm_getuv(L, 1);
    int env = lua_gettop(L);
    /* create(): every subscription has a handler in the core (ref 0: the global onpub), so it
       gets a subscription identifier and is made again after a lost session */
    int has_handler = onpub || u->is_v5;
    int ref = onpub ? lm_filter_ref(L, u, env, 2) : 0;
    unsigned short id = 0;
    options |= (unsigned char)qos;
    si.filters = &filter;
    si.options = &options;
    si.count = 1;
    int rc = mqttc_subscribe_with(&u->c, &si, lm_on_suback, has_handler ? lm_on_message : NULL, (void *)(intptr_t)ref, &id);
    if (rc == MQTTC_OK) {
        if (onpub) lm_set_handler(L, env, 2, ref, onpub);
        else if (u->is_v5) lm_drop_handler(L, env, 2); /* subscribed again without onpub */
        lm_remember_request(L, env, id, lua_isnil(L, 3) ? 0 : 3, 2);
    }
    return lm_status(L, u, rc);
}

/* unsubscribe(filter [, onunsuback] [, prop]) -> true | nil, err (prop: create() only) */
static int m_unsubscribe(lua_State *L) {
    lm_client *u = lm_check(L, "unsubscribe");
    size_t flen;
    const char *filter = lm_checkstring(L, 2, 1, "unsubscribe", &flen);
    mqttc_subscribe_info si;
    memset(&si, 0, sizeof si);
    lua_settop(L, 4);
    if (lua_istable(L, 3) && lua_isnil(L, 4)) lua_insert(L, 3); /* (filter, prop) */
    if (!lua_isnil(L, 3) && !lua_isfunction(L, 3)) lm_typeerror(L, 3, 2, "unsubscribe", "function");
    if (!lua_isnil(L, 4)) {
        if (!u->is_v5) lm_argerror(L, 3, "unsubscribe", "properties need an MQTT 5 client (create)");
        if (!lua_istable(L, 4)) lm_typeerror(L, 4, 3, "unsubscribe", "table");
        si.props = lm_check_props(L, 4, MQTTC_UNSUBSCRIBE, "prop", NULL);
    }
    if (strlen(filter) != flen || mqttc_filter_check(filter, flen) != MQTTC_OK)
        lm_argerror(L, 1, "unsubscribe", "invalid topic filter");
    if (lm_end_reason(u)) return lm_failure(L, lm_end_reason(u));
    lm_uncqueue(L, u);
    unsigned short id = 0;
    si.filters = &filter;
    si.count = 1;
    int rc = mqttc_unsubscribe_with(&u->c, &si, lm_on_unsuback, NULL, &id);
    if (rc == MQTTC_OK) {
        lm_getuv(L, 1);
        lm_remember_request(L, lua_gettop(L), id, lua_isnil(L, 3) ? 0 : 3, 2);
    }
    return lm_status(L, u, rc);
}

/* create(): the script ends it (disconnect, close): no more onstatus, no restart; a
   client already down is released. */
static void lm_stop(lm_client *u) {
    u->is_stopped = 1;
    u->restart_at_ms = 0;
    for (int i = 0; i < u->nstatus; i++) free(u->status[i].props);
    u->nstatus = 0;
    if (!u->is_freed && mqttc_state(&u->c) == MQTTC_STATE_WAITING) (void)mqttc_disconnect(&u->c); /* CLOSED */
    lm_settle(u);
}

/* C part of disconnect() -> true | nil, err: starts the graceful end. The core first lets
   the open QoS 1/2 flows finish (state DRAINING: acks still go both ways, nothing new is
   taken), then sends DISCONNECT and closes [MQTT-3.14.4-1]; a step does that. The Lua part
   steps to the end in blocking mode. Called again while ending: true, nothing more. */
static int m_disconnect(lua_State *L) {
    lm_client *u = lm_check(L, "disconnect");
    long long reason = 0;
    if (u->is_v5 && !lua_isnoneornil(L, 2) && !lm_isint(L, 2, 0, 255, &reason))
        lm_argerror(L, 1, "disconnect", "a reason code 0..255 expected");
    if (lm_is_ending(u)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (u->is_v5) lm_stop(u); /* create(): the end is ours, onstatus hears no more */
    if (u->is_v5 && u->is_freed) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (lm_end_reason(u)) return lm_failure(L, lm_end_reason(u));
    lm_uncqueue(L, u);
    if (u->is_v5) {
        mqttc_disconnect_info di;
        memset(&di, 0, sizeof di);
        di.reason_code = (int)reason;
        return lm_status(L, u, mqttc_disconnect_with(&u->c, &di));
    }
    return lm_status(L, u, mqttc_disconnect(&u->c));
}

/* Ends a drain now: DISCONNECT goes out, the open flows stay unfinished (the end is
   "timeout", as when the drain runs out of time; inflight() counts them). Time is an input
   of the core: a step at the drain's deadline does exactly this, and paused it reads
   nothing first, so no callback runs (we may be in __gc). */
static void lm_cut_drain(lm_client *u) {
    mqttc_pause(&u->c, 1);
    (void)mqttc_step(&u->c, mqttc_now_ms() + ((uint64_t)1 << 40));
}

/* The one close: DISCONNECT if connected (as the original, so the broker drops the will),
   then release everything. Inside a callback the client is only told to end: the running
   loop finishes the drain and lm_settle releases it. Elsewhere the release is now, and a
   drain still running is cut short (the Lua close() lets it finish first where it may
   wait). Idempotent. */
static void lm_close(lm_client *u) {
    if (u->is_v5) lm_stop(u);
    if (u->is_freed) return;
    if (mqttc_state(&u->c) == MQTTC_STATE_CONNECTED) (void)mqttc_disconnect(&u->c);
    if (u->in_step) {
        u->close_pending = 1;
        return;
    }
    if (mqttc_state(&u->c) == MQTTC_STATE_DRAINING) lm_cut_drain(u);
    if (mqttc_state(&u->c) == MQTTC_STATE_DISCONNECTING) (void)mqttc_flush(&u->c); /* DISCONNECT out */
    lm_free(u, MQTTC_ERR_DISCONNECT);
}

static int m_close(lua_State *L) {
    lm_client *u = lm_check(L, "close");
    lm_uncqueue(L, u);
    lm_close(u);
    lua_pushboolean(L, 1);
    return 1;
}

/* step() -> true | nil, err: does what is ready without blocking (connect, write, read,
   callbacks, timers, the drain after disconnect()). A callback's error is raised here,
   after the core has returned. */
static int c_step(lua_State *L) {
    lm_client *u = lm_check(L, "step");
    if (u->in_step) return lm_error(L, "mqttc: step() or run() called from inside a callback");
    if (lm_state(u) == MQTTC_STATE_CLOSED && !u->nstatus && !u->restart_at_ms) return lm_failure(L, lm_end_reason(u));
    lua_settop(L, 1);
    lm_uncqueue(L, u);
    lm_getuv(L, 1); /* 2: env */
    lua_pushnil(L); /* 3: the first callback error */
    if (!lua_checkstack(L, 24)) return lm_error(L, "mqttc: Lua stack overflow");
    u->L = L;
    u->env = 2;
    u->err_slot = 3;
    u->has_error = 0;
    u->in_step = 1;
    int rc = MQTTC_OK;
    lm_deliver(u); /* what calls outside a step told (create's connect, a publish) */
    if (!u->is_freed && u->restart_at_ms && mqttc_now_ms() >= u->restart_at_ms &&
        mqttc_state(&u->c) == MQTTC_STATE_CLOSED) { /* onstatus said to dial again */
        u->restart_at_ms = 0;
        (void)lm_dial(L, u, 2); /* (a failure is told as any: below) */
    }
    if (!u->is_freed && !u->close_pending) rc = mqttc_step(&u->c, mqttc_now_ms());
    if (!u->is_freed) lm_deliver(u);
    u->in_step = 0;
    u->L = NULL;
    if (u->close_pending && !lm_is_ending(u)) { /* a drain goes on: released when it ends */
        u->close_pending = 0;
        lm_close(u);
    }
    lm_settle(u);
    if (u->has_error) {
        u->has_error = 0;
        lua_settop(L, 3);
        return lua_error(L);
    }
    if (rc == MQTTC_OK || (!u->is_freed && (u->restart_at_ms || u->nstatus))) {
        lua_pushboolean(L, 1);
        return 1;
    }
    return lm_failure(L, lm_end_reason(u) ? lm_end_reason(u) : rc);
}

/* The script's step(): the same, and from now on the client is in asynchronous mode. */
static int m_step(lua_State *L) {
    lm_client *u = lm_check(L, "step");
    if (!u->in_step) u->is_async = 1; /* (from a callback it only raises) */
    return c_step(L);
}

/* getfd() / pollfd(): the socket to wait on; -1 once the client has ended. */
static int m_getfd(lua_State *L) {
    lm_client *u = lm_check(L, "getfd");
    u->is_async = 1;
    lua_pushinteger(L, u->is_freed ? -1 : mqttc_fd(&u->c));
    return 1;
}

/* pollfd(): getfd() for cqueues, which calls it when it registers the client. */
static int m_pollfd(lua_State *L) {
    lm_client *u = lm_check(L, "pollfd");
    u->is_cq_polled = 1;
    lua_pushinteger(L, u->is_freed ? -1 : mqttc_fd(&u->c));
    return 1;
}

/* events(): "r", "w" or "rw" (luv's and cqueues' spelling); nil once ended. */
static int m_events(lua_State *L) {
    lm_client *u = lm_check(L, "events");
    u->is_async = 1;
    unsigned ev = u->is_freed ? 0 : mqttc_events(&u->c);
    if (ev == 0) lua_pushnil(L);
    else if (ev == (MQTTC_EV_READ | MQTTC_EV_WRITE)) lua_pushliteral(L, "rw");
    else lua_pushstring(L, ev & MQTTC_EV_WRITE ? "w" : "r");
    return 1;
}

/* timeout(): seconds until step() must run even without socket events; nil: none (or the
   client has ended). 0 when step() has work already: bytes buffered (after CONNACK, TLS),
   or the end of a disconnect to report. */
/* Milliseconds until step() must run without socket events; -1: never (ended). create():
   0 while onstatus has news to hear; the time of a restart onstatus asked for. */
static long lm_timeout_ms(const lm_client *u) {
    uint64_t now = mqttc_now_ms();
    if (u->is_freed) return -1;
    if (u->nstatus) return 0;
    if (u->restart_at_ms && mqttc_state(&u->c) == MQTTC_STATE_CLOSED)
        return u->restart_at_ms <= now ? 0 : (long)(u->restart_at_ms - now > 0x7fffffff ? 0x7fffffff : u->restart_at_ms - now);
    return mqttc_timeout_ms(&u->c, now);
}

static int m_timeout(lua_State *L) {
    lm_client *u = lm_check(L, "timeout");
    u->is_async = 1;
    long ms = lm_timeout_ms(u);
    if (ms < 0) lua_pushnil(L);
    else lua_pushnumber(L, (lua_Number)ms / 1000.0);
    return 1;
}

/* inflight() -> outgoing, incoming: QoS 1/2 publishes of ours not yet acknowledged, and
   QoS 2 messages from the broker awaiting its PUBREL. After the end: those left unfinished
   (disconnect() returned nil, "timeout", or the connection broke). */
static int m_inflight(lua_State *L) {
    lm_client *u = lm_check(L, "inflight");
    lua_pushinteger(L, (lua_Integer)(u->is_freed ? u->final_out : mqttc_inflight(&u->c)));
    lua_pushinteger(L, (lua_Integer)(u->is_freed ? u->final_in : mqttc_inflight_in(&u->c)));
    return 2;
}

static const char *lm_state_name(int state) {
    switch (state) {
    case MQTTC_STATE_IDLE: return "idle";
    case MQTTC_STATE_CONNECTED: return "connected";
    case MQTTC_STATE_DRAINING: return "draining";
    case MQTTC_STATE_DISCONNECTING: return "disconnecting";
    case MQTTC_STATE_CLOSED: return "closed";
    default: return "connecting"; /* TCP, TLS handshake, CONNACK */
    }
}

static int m_tostring(lua_State *L) {
    lm_client *u = lm_check(L, "__tostring");
    int state = lm_state(u);
    if (state == MQTTC_STATE_CLOSED)
        lua_pushfstring(L, "mqttc client (closed: %s): %p", mqttc_errname(lm_end_reason(u)), (void *)u);
    else
        lua_pushfstring(L, "mqttc client (%s): %p", lm_state_name(state), (void *)u);
    return 1;
}

static int m_gc(lua_State *L) {
    lm_client *u = lm_check(L, "__gc");
    lm_uncqueue(L, u);
    lm_close(u);
    return 0;
}

/* mqtt.error (why it ended, nil while it works), mqtt.sock (the client itself: getfd() for
   socket.select), else the methods (upvalue 1). */
static int m_index(lua_State *L) {
    lm_client *u = lm_check(L, "__index");
    const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    if (key && strcmp(key, "error") == 0) {
        if (lm_state(u) == MQTTC_STATE_CLOSED) lm_pusherror(L, lm_end_reason(u));
        else lua_pushnil(L);
        return 1;
    }
    if (key && strcmp(key, "sock") == 0) {
        lua_settop(L, 1);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

/* ---- the raw functions the Lua part builds on ------------------------------------------- */

/* wait(self [, "w"]): blocks until the socket is ready for what the client wants (the core's
   mqttc_wait) or only for writing (the busy path of publish, which must not wake for input
   it will not read yet), or until the client's next deadline. */
static int c_wait(lua_State *L) {
    lm_client *u = lm_check(L, "wait");
    if (u->is_freed || u->nstatus) return 0;
    if (mqttc_fd(&u->c) < 0) { /* create(): no connection until the next attempt */
        long ms = lm_timeout_ms(u);
        if (ms > 0) (void)poll(NULL, 0, ms > 0x7fffffffL ? 0x7fffffff : (int)ms);
        return 0;
    }
    if (!(lua_isstring(L, 2) && strcmp(lua_tostring(L, 2), "w") == 0)) {
        (void)mqttc_wait(&u->c, -1, -1);
        return 0;
    }
    struct pollfd pfd;
    long ms = mqttc_timeout_ms(&u->c, mqttc_now_ms());
    pfd.fd = mqttc_fd(&u->c);
    pfd.events = POLLOUT;
    pfd.revents = 0;
    (void)poll(&pfd, 1, ms > 0x7fffffffL ? 0x7fffffff : (int)ms); /* EINTR: the caller steps and waits again */
    return 0;
}

/* flush(self): writes what the socket takes now (the busy path of publish). */
static int c_flush(lua_State *L) {
    lm_client *u = lm_check(L, "flush");
    lm_uncqueue(L, u);
    if (!u->is_freed) (void)mqttc_flush(&u->c);
    lm_settle(u);
    return 0;
}

/* fd(x): the client's socket, -1 when x is not an open client (never raises: the wrappers
   call it before the method has checked its arguments). */
static int c_fd(lua_State *L) {
    lm_client *u = (lm_client *)lm_testudata(L, 1, LM_CLIENT);
    lua_pushinteger(L, u && !u->is_freed ? mqttc_fd(&u->c) : -1);
    return 1;
}

static int c_connected(lua_State *L) {
    lua_pushboolean(L, lm_state(lm_check(L, "connected")) == MQTTC_STATE_CONNECTED);
    return 1;
}

/* is_open(self): not ended yet (connected, or draining after disconnect()). */
static int c_is_open(lua_State *L) {
    lua_pushboolean(L, lm_state(lm_check(L, "is_open")) != MQTTC_STATE_CLOSED);
    return 1;
}

/* is_async(self): the script drives the client (asynchronous mode): nothing may wait. */
static int c_is_async(lua_State *L) {
    lua_pushboolean(L, lm_check(L, "is_async")->is_async);
    return 1;
}

/* pending(self): bytes queued, not yet written (0: a busy publish waits for acks). */
static int c_pending(lua_State *L) {
    lm_client *u = lm_check(L, "pending");
    lua_pushinteger(L, u->is_freed ? 0 : (lua_Integer)mqttc_pending_output(&u->c));
    return 1;
}

/* timeout(self): timeout() without putting the client in asynchronous mode (seconds, nil). */
static int c_timeout(lua_State *L) {
    long ms = lm_timeout_ms(lm_check(L, "timeout"));
    if (ms < 0) lua_pushnil(L);
    else lua_pushnumber(L, (lua_Number)ms / 1000.0);
    return 1;
}

/* is_v5(self): made by create() */
static int c_is_v5(lua_State *L) {
    lua_pushboolean(L, lm_check(L, "is_v5")->is_v5);
    return 1;
}

static int c_in_callback(lua_State *L) {
    lua_pushboolean(L, lm_check(L, "in_callback")->in_step);
    return 1;
}

/* ---- luaL_Reg tables -------------------------------------------------------------------- */

/* The methods that are C alone; publish, subscribe and unsubscribe (busy retry), run,
   disconnect and close (they may wait) are Lua wrappers around lm_raw, from the chunk below. */
static const luaL_Reg lm_methods[] = {
    {"step", m_step},     {"getfd", m_getfd},       {"pollfd", m_pollfd}, {"events", m_events},
    {"timeout", m_timeout}, {"inflight", m_inflight}, {"setwill", m_setwill}, {"status", m_status},
    {NULL, NULL}};

static const luaL_Reg lm_raw[] = {
    {"connect", m_connect_start}, {"publish", m_publish},     {"subscribe", m_subscribe},
    {"unsubscribe", m_unsubscribe}, {"disconnect", m_disconnect}, {"close", m_close},
    {"step", c_step},             {"wait", c_wait},           {"flush", c_flush},
    {"connected", c_connected},   {"is_open", c_is_open},     {"is_async", c_is_async},
    {"in_callback", c_in_callback}, {"fd", c_fd},             {"pending", c_pending},
    {"create", m_create},         {"is_v5", c_is_v5},         {"timeout", c_timeout},
    {NULL, NULL}};

/* ---- the Lua part: connect and run loops, busy retry, drain, cqueues -------------------- */
static const char lm_chunk[] =
    "local M, methods, C, mt = ...\n"
    "-- the cqueues module when the caller is a coroutine run by a cqueues controller\n"
    "local function cqueues_here()\n"
    "  local cq = package.loaded.cqueues\n"
    "  if type(cq) == 'table' and cq.running and cq.running() then return cq end\n"
    "end\n"
    "-- waits until the client may have work: yields under cqueues (the client is pollable;\n"
    "-- another coroutine's call on it wakes this one, see lm_uncqueue), else poll(2)\n"
    "local function wait(self)\n"
    "  local cq = cqueues_here()\n"
    "  if not cq or C.in_callback(self) then return C.wait(self) end\n"
    "  -- create(): between connections there is no socket, only the time of the next attempt\n"
    "  if C.is_v5(self) and C.fd(self) < 0 then cq.sleep(C.timeout(self) or 0) else cq.poll(self) end\n"
    "end\n"
    "-- busy: the output buffer is full, or the in-flight window is (only acks free a slot).\n"
    "-- Asynchronous mode never waits: it writes what the socket takes now, tries once more\n"
    "-- and returns nil, 'busy'. Blocking mode (a cqueues coroutine too) steps the client until\n"
    "-- the request fits and has left for the socket, as a blocking write returns once written:\n"
    "-- nothing stays queued for a step that may never come, and keepalive runs meanwhile.\n"
    "-- Inside a callback acks cannot be read (the step reading them is running): there only\n"
    "-- the socket is waited for, and a full window is nil, 'busy'.\n"
    "local function retry(self, f, ...)\n"
    "  local ok, err = f(self, ...)\n"
    "  if ok and C.pending(self) == 0 then return ok end\n"
    "  local inside = C.in_callback(self)\n"
    "  local cq = not inside and cqueues_here()\n"
    "  if not cq and C.is_async(self) then\n"
    "    if err == 'busy' and C.pending(self) > 0 then C.flush(self); ok, err = f(self, ...) end\n"
    "  elseif inside then\n"
    "    while err == 'busy' and C.pending(self) > 0 do\n"
    "      C.wait(self, 'w')\n"
    "      C.flush(self)\n"
    "      ok, err = f(self, ...)\n"
    "    end\n"
    "  else\n"
    "    while err == 'busy' or (ok and C.pending(self) > 0) do\n"
    "      wait(self)\n"
    "      local stepped, why = C.step(self)\n"
    "      if not stepped then return nil, why end\n"
    "      if err == 'busy' then ok, err = f(self, ...) end\n"
    "    end\n"
    "  end\n"
    "  if ok then return ok end\n"
    "  return ok, err\n"
    "end\n"
    "function methods.publish(self, ...) return retry(self, C.publish, ...) end\n"
    "function methods.subscribe(self, ...) return retry(self, C.subscribe, ...) end\n"
    "function methods.unsubscribe(self, ...) return retry(self, C.unsubscribe, ...) end\n"
    "function methods.run(self)\n"
    "  while true do\n"
    "    local ok, err = C.step(self)\n"
    "    if not ok then return nil, err end\n"
    "    wait(self)\n"
    "  end\n"
    "end\n"
    "-- disconnect(): the open QoS 1/2 flows finish first, then DISCONNECT (the core's drain).\n"
    "-- Where waiting is allowed it steps to the end: true once every flow completed and\n"
    "-- DISCONNECT went out, else nil and why ('timeout': op.disconnecttimeout passed first;\n"
    "-- inflight() counts what was left). Asynchronous mode and callbacks: true, the drain has\n"
    "-- started; step()/run() finish it and then return nil, 'disconnect' (or 'timeout').\n"
    "function methods.disconnect(self, ...)\n"
    "  local ok, err = C.disconnect(self, ...)\n"
    "  if not ok then return nil, err end\n"
    "  if C.in_callback(self) or (C.is_async(self) and not cqueues_here()) then return true end\n"
    "  while true do\n"
    "    ok, err = C.step(self)\n"
    "    if not ok then\n"
    "      if err == 'disconnect' then return true end\n"
    "      return nil, err\n"
    "    end\n"
    "    wait(self)\n"
    "  end\n"
    "end\n"
    "-- close(): disconnect() first where it may wait (in a pcall, as the original), then\n"
    "-- release everything. Elsewhere the release is at once (see lm_close).\n"
    "function methods.close(self)\n"
    "  if C.is_open(self) and not C.in_callback(self) and (not C.is_async(self) or cqueues_here()) then\n"
    "    pcall(methods.disconnect, self)\n"
    "  end\n"
    "  return C.close(self)\n"
    "end\n"
    "mt.__close = function(self) methods.close(self) end\n"
    "M.create = C.create -- only prepares: run(), step() or a cqueues run() drives it\n"
    "function M.connect(addr, onpub, op)\n"
    "  local self, err = C.connect(addr, onpub, op)\n"
    "  if not self then return nil, err end\n"
    "  -- the step that handles CONNACK returns right after it: whatever came with it waits\n"
    "  -- for the script's run()/step(), once it holds the client this returns\n"
    "  while not C.connected(self) do\n"
    "    local ok\n"
    "    ok, err = C.step(self)\n"
    "    if not ok then C.close(self); return nil, err end\n"
    "    if C.connected(self) then break end\n"
    "    wait(self)\n"
    "  end\n"
    "  return self\n"
    "end\n";

/* ---- metatable and luaopen_mqttc -------------------------------------------------------- */

/* __gc releases at once (lm_close: a drain is cut short, DISCONNECT still goes out); the
   chunk sets __close to close(), which may wait for the drain first: a block's end is a
   place where the script may wait, a collection is not. */
static void lm_metatable(lua_State *L, int methods) {
    luaL_newmetatable(L, LM_CLIENT);
    lua_pushvalue(L, methods);
    lua_pushcclosure(L, m_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, LM_CLIENT);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

LM_EXPORT int luaopen_mqttc(lua_State *L) {
    lua_newtable(L); /* the module */
    int module = lua_gettop(L);
    lua_pushliteral(L, MQTTC_VERSION);
    lua_setfield(L, module, "_VERSION");
    lua_newtable(L); /* methods */
    int methods = lua_gettop(L);
    lm_setfuncs(L, lm_methods);
    lm_metatable(L, methods);
    if (luaL_loadbuffer(L, lm_chunk, sizeof lm_chunk - 1, "=mqttc") != 0) return lua_error(L);
    lua_pushvalue(L, module);
    lua_pushvalue(L, methods);
    lua_newtable(L);
    lm_setfuncs(L, lm_raw);
    luaL_getmetatable(L, LM_CLIENT); /* the chunk sets __close (close() may wait) */
    lua_call(L, 4, 0);
    lua_settop(L, module);
    return 1;
}
