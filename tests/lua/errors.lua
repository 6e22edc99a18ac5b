-- tests/lua/errors.lua - every error string of the reference page, provoked for real.
package.path = arg[0]:gsub("[^/]+$", "") .. "?.lua;" .. package.path
local T = require"testlib"
local mqttc, socket = T.mqttc, T.socket
local f = function() end

-- connect over a socket the test connected to a fake broker that first sends `bytes`
local fake_connect = T.fake_connect

-- the fake broker side sees the end of the connection
local function peer_closed(s)
    s:settimeout(5)
    local data, err = s:receive("*a")
    return err == nil and data ~= nil -- "*a" returns what was left once the peer closed
end

T.run("invalidresp", function()
    local m, err, c, s = fake_connect("HTTP/1.1 400 Bad Request\r\n\r\n")
    T.eq("garbage instead of CONNACK: invalidresp", "invalidresp", err)
    T.check("  no client object", m == nil)
    T.check("  the connection is closed (our socket object notwithstanding)", peer_closed(s))
    c:close()
    m, err = fake_connect("\208\0") -- a well-formed PINGRESP, but not a CONNACK
    T.eq("another packet before CONNACK: invalidresp", "invalidresp", err)
end)

T.run("CONNACK refusals", function()
    local ports = {}
    for p in T.env("MB_CONNACK_PORTS"):gmatch("%d+") do ports[#ports + 1] = tonumber(p) end
    for code = 1, 5 do
        local m, err = mqttc.connect("127.0.0.1", f, {port = ports[code]})
        T.eq("CONNACK code " .. code .. " comes back as the number " .. code, code, err)
        T.check("  no client object", m == nil)
    end
end)

T.run("pingresp", function()
    local m = assert(mqttc.connect("127.0.0.1", f, {port = T.port("MB_NOPING_PORT"), keepalive = 1, pingtimeout = 0.5}))
    local t0 = T.now()
    local ok, err = m:run()
    local dt = T.now() - t0
    T.eq("no PINGRESP: run() returns nil, \"pingresp\"", "pingresp", err)
    T.check("  ... as nil, err", ok == nil)
    T.check("  ... after keepalive + ping timeout (1.5 s; measured " .. string.format("%.2f", dt) .. " s)",
        dt > 1.2 and dt < 8)
    T.eq("  mqtt.error says it too", "pingresp", m.error)
end)

T.run("keepalive answered", function()
    -- the same schedule with a broker that answers: still alive after several keepalives
    local m = assert(mqttc.connect("127.0.0.1", f, {port = T.port("MB_PORT"), keepalive = 1, pingtimeout = 0.5}))
    local alive = T.pump(m, function() return T.ended[m] ~= nil end, 1.7)
    T.check("PINGRESP arrives: alive after keepalive + ping timeout (1.7 s)", not alive and T.ended[m] == nil, tostring(T.ended[m]))
    T.eq("  mqtt.error is nil while it works", nil, m.error)
    m:close()
end)

T.run("disconnect", function()
    local m
    m = assert(mqttc.connect("127.0.0.1", f, {port = T.port("MB_PORT")}))
    m:subscribe("e/d", function() m:disconnect() end)
    local ok, err = m:run()
    T.eq("disconnect() from a callback: run() returns \"disconnect\"", "disconnect", err)
    T.eq("  mqtt.error", "disconnect", m.error)
    ok, err = m:publish("e/d", "late")
    T.eq("  publish afterwards: nil, \"disconnect\"", "disconnect", err)
end)

T.run("closed", function()
    local m = assert(mqttc.connect("127.0.0.1", f, {port = T.port("MB_KILL_PORT")}))
    os.execute("kill " .. T.env("MB_KILL_PID"))
    local ok, err = m:run()
    T.eq("broker killed: run() returns \"closed\"", "closed", err)
    T.eq("  mqtt.error", "closed", m.error)
end)

T.run("cannotresolve / cannotconnect / timeout", function()
    local m, err = mqttc.connect("no-such-host.invalid", f)
    T.eq("a name that does not resolve: cannotresolve", "cannotresolve", err)
    local srv = assert(socket.bind("127.0.0.1", 0))
    local port = tonumber((select(2, srv:getsockname())))
    srv:close()
    m, err = mqttc.connect("127.0.0.1", f, {port = port})
    T.eq("nothing listens: cannotconnect", "cannotconnect", err)
    srv = assert(socket.bind("127.0.0.1", 0)) -- listens, never answers
    port = tonumber((select(2, srv:getsockname())))
    local t0 = T.now()
    m, err = mqttc.connect("127.0.0.1", f, {port = port, timeout = 0.3})
    T.eq("no CONNACK within op.timeout: timeout", "timeout", err)
    T.check("  after about op.timeout", T.now() - t0 >= 0.25 and T.now() - t0 < 5)
    srv:close()
end)

T.run("io", function()
    -- a socket error that is not the peer closing: a UDP socket connected to a port nobody
    -- listens on gets ECONNREFUSED (from the ICMP answer to CONNECT)
    local srv = assert(socket.bind("127.0.0.1", 0))
    local port = tonumber((select(2, srv:getsockname())))
    srv:close()
    local udp = socket.udp()
    assert(udp:setpeername("127.0.0.1", port))
    local m, err = mqttc.connect(udp, f, {timeout = 5})
    T.eq("another socket error: io", "io", err)
    udp:close()
end)

T.run("overflow", function()
    local m = assert(mqttc.connect("127.0.0.1", f, {port = T.port("MB_PORT"), maxpacket = 1000}))
    T.subscribed(m, "e/big")
    assert(m:publish("e/big", string.rep("x", 5000)))
    local ok, err = m:run()
    T.eq("a packet over op.maxpacket: overflow", "overflow", err)
end)

T.run("protocolerror", function()
    local m, err, c, s = fake_connect("\32\2\0\0")
    assert(m, err)
    s:send("\144\3\0\7\0") -- a SUBACK for a packet id never used
    local ok
    ok, err = m:run()
    T.eq("a SUBACK nobody asked for: protocolerror", "protocolerror", err)
    T.check("  the connection is closed", peer_closed(s))
    c:close()
end)

T.run("rejected options", function()
    -- the C core says MQTTC_ERR_ARG and which option (mqttc_bad_arg): Lua raises naming it,
    -- never returns nil, "argument"
    local port = T.port("MB_PORT")
    local ok, err = pcall(mqttc.connect, "127.0.0.1", f, {port = port, secure = true, cafile = "/nonexistent/ca.pem"})
    T.check("a CA file that does not exist raises, naming opt.cafile and why",
        not ok and tostring(err):find("opt.cafile: cannot read /nonexistent/ca.pem (No such file or directory)", 1, true), err)
    local certs = T.env("CERTS")
    ok, err = pcall(mqttc.connect, "127.0.0.1", f, {port = port, secure = true, cafile = certs .. "/ca.crt",
        cert = certs .. "/ca.key"}) -- a key, not a certificate
    T.check("a certificate file that is none raises, naming opt.cert",
        not ok and tostring(err):find("opt.cert: " .. certs .. "/ca.key is not usable for TLS", 1, true), err)
end)

T.run("TLS errors", function()
    local certs = T.env("CERTS")
    local m, err = fake_connect("this is not TLS\r\n", {secure = true})
    T.eq("TLS to something that does not speak it: sslhandshake", "sslhandshake", err)
    local ca = certs .. "/ca.crt" -- (the system store only where it matters: loading it is slow under Valgrind)
    m, err = mqttc.connect("127.0.0.1", f, {port = T.port("MB_PORT"), secure = true, cafile = ca, timeout = 5})
    T.eq("TLS to a plain-text broker: sslhandshake", "sslhandshake", err)
    local self_port = T.port("TLS_SELF_PORT")
    m, err = mqttc.connect("localhost", f, {port = self_port, secure = true, uname = "u", passwd = "p"})
    T.eq("untrusted (self-signed) chain with credentials, system store: cert", "cert", err)
    m, err = mqttc.connect("localhost", f, {port = self_port, secure = true, cafile = ca, verify = true})
    T.eq("untrusted chain, op.verify: cert", "cert", err)
    m, err = mqttc.connect("localhost", f, {port = self_port, secure = true, cafile = ca})
    T.check("untrusted chain without credentials connects (the seed's rule)", m ~= nil, err)
    if m then m:close() end
    local wrong = T.port("TLS_WRONG_PORT")
    m, err = mqttc.connect("127.0.0.1", f, {port = wrong, secure = true, cafile = certs .. "/ca.crt", uname = "u", passwd = "p"})
    T.eq("trusted chain for another name, credentials: cn", "cn", err)
    m, err = mqttc.connect("localhost", f, {port = T.port("TLS_PORT"), secure = true, cafile = certs .. "/ca.crt",
                                            uname = "u", passwd = "p"})
    T.check("trusted chain for this name, credentials: connects", m ~= nil, err)
    if m then m:close() end
    m, err = mqttc.connect("localhost", f, {port = T.port("TLS_PORT"), secure = true, capath = certs .. "/capath",
                                            verify = true})
    T.check("trusted through op.capath, verified: connects", m ~= nil, err)
    if m then m:close() end
end)

T.finish()
