-- tests/lua/args.lua - caller bugs raise, in the original's words, before any network I/O.
package.path = arg[0]:gsub("[^/]+$", "") .. "?.lua;" .. package.path
local T = require"testlib"
local mqttc, socket = T.mqttc, T.socket
local f = function() end

-- A listener that counts connection attempts: none may arrive while arguments are wrong.
local srv = assert(socket.bind("127.0.0.1", 0))
local port = tonumber((select(2, srv:getsockname())))
local function attempts()
    srv:settimeout(0)
    local n = 0
    while srv:accept() do n = n + 1 end
    return n
end

T.run("connect", function()
    local closed = socket.tcp()
    closed:close()
    local cases = {
        {"no address", "bad argument #1 to 'connect' (string expected, got nil)", nil, f},
        {"address of a wrong type", "bad argument #1 to 'connect' (string expected, got boolean)", true, f},
        {"a table without getfd", "bad argument #1 to 'connect' (string expected, got table)", {}, f},
        {"fractional descriptor", "bad argument #1 to 'connect' (not a socket descriptor)", 3.5, f},
        {"negative descriptor", "bad argument #1 to 'connect' (not a socket descriptor)", -1, f},
        {"a closed socket object", "bad argument #1 to 'connect' (socket is not connected)", closed, f},
        {"no callback", "bad argument #2 to 'connect' (function expected, got nil)", "127.0.0.1", nil},
        {"callback of a wrong type", "bad argument #2 to 'connect' (function expected, got string)", "127.0.0.1", "f"},
        {"op of a wrong type", "bad argument #3 to 'connect' (table expected, got number)", "127.0.0.1", f, 5},
    }
    for _, c in ipairs(cases) do T.raises("connect: " .. c[1], c[2], mqttc.connect, c[3], c[4], c[5]) end
    local opts = {
        {"will without topic", "opt.will.topic: expected string, got nil", {will = {message = "m"}}},
        {"will topic a number", "opt.will.topic: expected string, got number", {will = {topic = 1, message = "m"}}},
        {"will without message", "opt.will.message: expected string, got nil", {will = {topic = "t"}}},
        {"will with a wildcard", "opt.will.topic: not a valid topic name", {will = {topic = "a/+", message = "m"}}},
        {"will QoS 3", "opt.will.qos: expected an integer in 0..2, got 3", {will = {topic = "t", message = "m", qos = 3}}},
        {"will retain not boolean", "opt.will.retain: expected boolean, got number", {will = {topic = "t", message = "m", retain = 1}}},
        {"will not a table", "opt.will: expected table, got string", {will = "t"}},
        {"keepalive a string", "opt.keepalive: expected number, got string", {keepalive = "60"}},
        {"keepalive over 65535", "opt.keepalive: expected an integer in 0..65535, got 70000", {keepalive = 70000}},
        {"keepalive negative", "opt.keepalive: expected an integer in 0..65535, got -1", {keepalive = -1}},
        {"keepalive fractional", "opt.keepalive: expected an integer in 0..65535, got 1.5", {keepalive = 1.5}},
        {"port 0", "opt.port: expected an integer in 1..65535, got 0", {port = 0}},
        {"port a string", "opt.port: expected number, got string", {port = "1883"}},
        {"id a number", "opt.id: expected string, got number", {id = 7}},
        {"id with a zero byte", "opt.id: must not contain a zero byte", {id = "a\0b"}},
        {"clean not boolean", "opt.clean: expected boolean, got string", {clean = "no"}},
        {"empty id without clean session", "opt.clean: an empty id needs a clean session [MQTT-3.1.3-7]", {id = "", clean = false}},
        {"uname a number", "opt.uname: expected string, got number", {uname = 5}},
        {"password without user name", "opt.passwd: a password needs opt.uname [MQTT-3.1.2-22]", {passwd = "secret"}},
        {"pingtimeout zero", "opt.pingtimeout: expected seconds > 0, got 0", {pingtimeout = 0}},
        {"timeout a string", "opt.timeout: expected number, got string", {timeout = "5"}},
        {"secure not boolean", "opt.secure: expected boolean, got string", {secure = "yes"}},
        {"cafile without secure", "opt.cafile: needs opt.secure=true", {cafile = "/x.pem"}},
        {"verify without secure", "opt.verify: needs opt.secure=true", {verify = true}},
        {"key without cert", "opt.key: needs opt.cert", {secure = true, key = "/k.pem"}},
        -- a misspelt key is an error naming it, never ignored in silence
        {"a misspelt key", "opt.kepalive: unknown option", {kepalive = 5}},
        {"a misspelt will key", "opt.will.qso: unknown option", {will = {topic = "t", message = "m", qso = 1}}},
        {"an array item", "opt[1]: unknown option", {1883}},
        {"a key that is no string", "opt: unknown option (a boolean key)", {[true] = 1}},
        {"maxinflight 0", "opt.maxinflight: expected an integer in 1..65535, got 0", {maxinflight = 0}},
        {"disconnecttimeout 0", "opt.disconnecttimeout: expected seconds > 0, got 0", {disconnecttimeout = 0}},
        {"nocheck not boolean (a BAS key)", "opt.nocheck: expected boolean, got string", {nocheck = "no"}},
    }
    for _, c in ipairs(opts) do
        c[3].port = c[3].port or port
        T.raises("connect: " .. c[1], c[2], mqttc.connect, "127.0.0.1", f, c[3])
    end
    T.eq("no connection was attempted by any of them", 0, attempts())
    -- the listener works: a correct call does reach it (and then times out: nobody answers)
    local m, err = mqttc.connect("127.0.0.1", f, {port = port, timeout = 0.2})
    T.eq("a correct connect reaches the listener (and times out)", "timeout", err)
    T.check("  ... no client object", m == nil)
    T.eq("  ... one connection attempt", 1, attempts())
end)

T.run("where", function()
    -- like luaL_argerror: the message starts with the caller's line, never one of ours
    local line
    local ok, err = pcall(function() line = debug.getinfo(1, "l").currentline; mqttc.connect() end)
    T.eq("connect's error points at the calling line", "args.lua:" .. line ..
        ": bad argument #1 to 'connect' (string expected, got nil)", (tostring(err):match("[^/]*$")))
    ok, err = pcall(function() line = debug.getinfo(1, "l").currentline; mqttc.connect("h", f, {will = {}}) end)
    T.eq("an option's error too", "args.lua:" .. line .. ": opt.will.topic: expected string, got nil",
        (tostring(err):match("[^/]*$")))
end)

T.run("methods", function()
    -- a connected client on a fake broker: nothing may be written by a bad call
    local m, err, c, s = T.fake_connect("\32\2\0\0") -- CONNACK accepted
    assert(m, err)
    T.eq("the fake broker got CONNECT", 1, (T.read_packet(s)))
    local cases = {
        {"publish", "bad argument #1 to 'publish' (string expected, got nil)", nil, "m"},
        {"publish", "bad argument #2 to 'publish' (string expected, got nil)", "t"},
        {"publish", "bad argument #2 to 'publish' (string expected, got table)", "t", {}},
        {"publish", "bad argument #1 to 'publish' (invalid topic name)", "a/#", "m"},
        {"publish", "bad argument #1 to 'publish' (invalid topic name)", "a/+/b", "m"},
        {"publish", "bad argument #1 to 'publish' (invalid topic name)", "", "m"},
        {"publish", "bad argument #1 to 'publish' (invalid topic name)", "a\0b", "m"},
        {"publish", "bad argument #1 to 'publish' (invalid topic name)", "bad\255utf8", "m"},
        {"publish", "bad argument #3 to 'publish' (table expected, got number)", "t", "m", 1},
        {"publish", "opt.qos: expected an integer in 0..2, got 3", "t", "m", {qos = 3}},
        {"publish", "opt.retain: expected boolean, got number", "t", "m", {retain = 1}},
        {"publish", "opt.qso: unknown option", "t", "m", {qso = 1}},
        {"publish", "opt.onpublished: expected function, got number", "t", "m", {qos = 1, onpublished = 1}},
        {"publish", "opt.onpublished: needs qos 1 or 2 (a QoS 0 message is never acknowledged)", "t", "m",
         {onpublished = f}},
        {"subscribe", "bad argument #1 to 'subscribe' (string expected, got nil)"},
        {"subscribe", "bad argument #1 to 'subscribe' (invalid topic filter)", "a/#/b"},
        {"subscribe", "bad argument #1 to 'subscribe' (invalid topic filter)", "a+"},
        {"subscribe", "bad argument #2 to 'subscribe' (function expected, got number)", "t", 5},
        {"subscribe", "bad argument #3 to 'subscribe' (table expected, got string)", "t", f, "x"},
        {"subscribe", "opt.qos: expected an integer in 0..2, got 5", "t", f, {qos = 5}},
        {"subscribe", "opt.onpub: expected function, got string", "t", {onpub = "f"}},
        {"subscribe", "opt.onpbu: unknown option", "t", f, {onpbu = f}},
        {"unsubscribe", "bad argument #1 to 'unsubscribe' (string expected, got nil)"},
        {"unsubscribe", "bad argument #1 to 'unsubscribe' (invalid topic filter)", "#/a"},
        {"unsubscribe", "bad argument #2 to 'unsubscribe' (function expected, got boolean)", "t", true},
    }
    for i, k in ipairs(cases) do
        T.raises(k[1] .. " " .. i, k[2], m[k[1]], m, k[3], k[4], k[5])
    end
    T.raises("a method on something else than a client", "calling 'publish' on bad self (mqttc client expected, got string)",
        m.publish, "t", "m")
    local line
    local ok, err = pcall(function() line = debug.getinfo(1, "l").currentline; m:publish("a/#", "m") end)
    T.eq("publish's error points at the calling line", "args.lua:" .. line ..
        ": bad argument #1 to 'publish' (invalid topic name)", (tostring(err):match("[^/]*$")))
    T.raises("step on something else than a client", "calling 'step' on bad self (mqttc client expected, got no value)", m.step)
    s:settimeout(0.1)
    local b, err = s:receive(1)
    T.check("the fake broker received nothing after CONNECT", b == nil and err == "timeout", tostring(b))
    m:close()
    T.eq("close sent DISCONNECT", 14, (T.read_packet(s)))
    c:close()
    s:close()
end)

T.run("BAS keys", function()
    -- keys BAS scripts pass: nocheck is accepted (and changes nothing), shark asks for TLS
    local m, err, c, s = T.fake_connect("\32\2\0\0", {nocheck = true})
    T.check("op.nocheck is accepted", m ~= nil, err)
    if m then m:close() end
    c:close()
    s:close()
    -- where a TLS handshake is expected
    m, err, c, s = T.fake_connect("this is not TLS\r\n", {shark = {}, timeout = 5})
    T.eq("op.shark (a SharkSSL object in BAS) means TLS, never plain text: sslhandshake", "sslhandshake", err)
    c:close()
    s:close()
end)

T.run("CONNECT as sent", function()
    -- what connect puts in CONNECT: keepalive 600 by default (the original's), a random
    -- 23-character id from [0-9a-zA-Z], clean session, no will, no credentials
    local function connect_bytes(op)
        local m, err, c, s = T.fake_connect("\32\2\0\0", op)
        assert(m, err)
        local _, _, body = T.read_packet(s)
        m:close()
        c:close()
        s:close()
        local flags, ka = body:byte(8), body:byte(9) * 256 + body:byte(10)
        local idlen = body:byte(11) * 256 + body:byte(12)
        return flags, ka, body:sub(13, 12 + idlen), body
    end
    local flags, ka, id = connect_bytes(nil)
    T.eq("default keepalive 600 s", 600, ka)
    T.eq("default: clean session only", 2, flags)
    T.check("default id: 23 characters of [0-9a-zA-Z]", #id == 23 and not id:find("[^0-9a-zA-Z]"), id)
    local _, _, id2 = connect_bytes(nil)
    T.check("two clients get different ids", id ~= id2)
    flags, ka = connect_bytes({keepalive = 0})
    T.eq("keepalive = 0 sends 0 (off)", 0, ka)
    flags, ka = connect_bytes({keepalive = 5})
    T.eq("keepalive = 5 taken as given", 5, ka)
    local body
    flags, ka, id, body = connect_bytes({id = "me", clean = false, uname = "u", passwd = "p\0w",
                                         will = {topic = "w/t", message = "gone\0", qos = 1, retain = true}})
    T.eq("flags: user, password, will retain, will QoS 1, will, no clean session", 0x80 + 0x40 + 0x20 + 0x08 + 0x04, flags)
    T.eq("id as given", "me", id)
    T.check("will topic, binary will message, user, binary password in order",
        body:sub(15) == "\0\3w/t\0\5gone\0\0\1u\0\3p\0w", body:sub(15))
end)

T.finish()
