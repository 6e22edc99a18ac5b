-- tests/lua/flow.lua - QoS 1/2 flows and what each mode promises (issue 11): the in-flight
-- window (20 by default, mosquitto's max_inflight_messages), publish that never waits in
-- asynchronous mode (a frozen broker), disconnect() that finishes every flow or says
-- "timeout", onpublished and inflight(), and nothing delivered before connect() returns.
-- BROKER_PORT is a default-configured mosquitto; mosquitto_sub counts what it delivers.
-- FROZEN_PORT/FROZEN_PID: a mosquitto of this suite's own, stopped with SIGSTOP here.
package.path = arg[0]:gsub("[^/]+$", "") .. "?.lua;" .. package.path
local T = require"testlib"
local mqttc, socket = T.mqttc, T.socket
local PORT = T.port("BROKER_PORT")
local f = function() end

-- the fake broker's packets
local function u16(n) return string.char(math.floor(n / 256), n % 256) end
local CONNACK = "\32\2\0\0"
local function puback(id) return "\64\2" .. u16(id) end
local function publish0(topic, payload) -- QoS 0, short
    local body = u16(#topic) .. topic .. payload
    return string.char(0x30, #body) .. body
end
-- the packet id of a QoS 1/2 PUBLISH body
local function publish_id(body)
    local tlen = body:byte(1) * 256 + body:byte(2)
    return body:byte(3 + tlen) * 256 + body:byte(4 + tlen)
end

-- a client on a fake broker that accepted it (CONNECT read); a drain of 0.3 s at most, so
-- closing it with flows the fake never finishes does not wait the default 10 s
local function fake_client(op, onpub)
    op = op or {}
    op.disconnecttimeout = op.disconnecttimeout or 0.3
    local m, err, c, s = T.fake_connect(CONNACK, op, onpub)
    assert(m, err)
    assert(T.read_packet(s) == 1, "no CONNECT")
    return m, s, c
end

local function inflight(m) -- inflight() where it exists (a test of it fails elsewhere)
    if not m.inflight then return "no inflight()" end
    return m:inflight()
end

local function ms(seconds) return ("%.1f ms"):format(seconds * 1000) end

T.run("in-flight window", function()
    -- asynchronous mode (step() was called): a full window is nil, "busy" at once
    local m, s, c = fake_client()
    T.eq("step() on a connected client: true", true, m:step())
    local all = true
    for i = 1, 20 do all = m:publish("w/a", tostring(i), {qos = 1}) == true and all end
    T.check("20 QoS 1 publishes (the default window) return true", all)
    local r = T.within(5, m.publish, m, "w/a", "21", {qos = 1})
    T.eq("asynchronous mode, window full: the 21st returns nil, \"busy\"", "busy", r[3])
    T.check("  at once (" .. ms(r.seconds) .. ")", r.seconds < 0.2)
    T.eq("inflight() counts the 20 outgoing flows", 20, inflight(m))
    local ids = {}
    for i = 1, 20 do
        local t, _, body = T.read_packet(s)
        if t == 3 then ids[#ids + 1] = publish_id(body) end
    end
    T.eq("the broker got 20 PUBLISH, no more", 20, #ids)
    s:send(puback(ids[1]))
    T.pump(m, function() return inflight(m) ~= 20 end, 5)
    T.eq("a PUBACK frees a slot: inflight() 19", 19, inflight(m))
    T.eq("  and the 21st goes", true, m:publish("w/a", "21", {qos = 1}))
    m:close()
    c:close()
    s:close()

    -- blocking mode (never stepped by the script): publish waits for a slot
    local b, s2, c2 = fake_client()
    for i = 1, 20 do assert(b:publish("w/b", tostring(i), {qos = 1})) end
    local t, _, body = T.read_packet(s2)
    s2:send(puback(publish_id(body))) -- waiting already: the blocking publish reads it
    r = T.within(10, b.publish, b, "w/b", "21", {qos = 1})
    T.eq("blocking mode, window full: publish waits for a PUBACK, then true", true, r[2])
    T.eq("  the window is full again: inflight() 20", 20, inflight(b))
    local w, s3, c3 = fake_client({maxinflight = 2, keepalive = 1}) -- (keepalive: the watchdog's tick)
    w:step()
    w:publish("w/c", "1", {qos = 1})
    w:publish("w/c", "2", {qos = 2})
    r = T.within(3, w.publish, w, "w/c", "3", {qos = 1})
    T.eq("opt.maxinflight = 2 sets the window: the third is busy", "busy", r[3] or r[2])
    w:close()
    c3:close()
    s3:close()
    b:close()
    c2:close()
    s2:close()
end)

T.run("blocking publish has left when it returns", function()
    -- as a blocking socket write: publish returns once the message is in the kernel, not
    -- with most of it queued for a step that may never come. The broker is stopped for a
    -- second, so 8 MiB cannot go at once; the publisher is never touched afterwards.
    local port, pid = T.port("FROZEN_PORT"), T.env("FROZEN_PID")
    local m, got = T.client(port)
    T.subscribed(m, "big/#")
    local p = T.client(port)
    local big = T.binary(8 * 1024 * 1024)
    os.execute("kill -STOP " .. pid)
    T.spawn("sh -c 'sleep 1; kill -CONT " .. pid .. "'")
    local r = T.within(20, p.publish, p, "big/x", big)
    T.eq("publish 8 MiB to a stopped broker in blocking mode: true", true, r[2])
    T.check(("  once the broker took it (it was stopped for 1 s; measured %.2f s)"):format(r.seconds), r.seconds > 0.7)
    T.pump(m, function() return #got >= 1 end, 30)
    T.check("  it arrives, the publisher untouched since", got[1] and got[1].msg == big, got[1] and #got[1].msg)
    p:close()
    m:close()
end)

T.run("frozen broker, asynchronous mode", function()
    -- the issue's case: a mosquitto stopped with SIGSTOP takes nothing more; publish in an
    -- event loop must come back at once every time, and keepalive must find the dead link
    local pid = T.env("FROZEN_PID")
    local m = assert(mqttc.connect("127.0.0.1", f, {port = T.port("FROZEN_PORT"), keepalive = 2, pingtimeout = 1}))
    os.execute("kill -STOP " .. pid)
    local chunk = string.rep("x", 128 * 1024)
    local worst, calls, busy, ended = 0, 0, 0, nil
    local t0 = T.now()
    local r = T.within(15, function()
        while T.now() - t0 < 12 do
            local ok, err = m:step()
            if not ok then ended = err; break end
            local t = T.now()
            local _, perr = m:publish("frozen/x", chunk)
            worst = math.max(worst, T.now() - t)
            calls = calls + 1
            if perr == "busy" then
                busy = busy + 1
                local ev = m:events()
                socket.select(ev and ev:find"r" and {m.sock} or {}, ev and ev:find"w" and {m.sock} or {},
                    math.min(m:timeout() or 0.05, 0.05))
            end
        end
    end)
    local dt = T.now() - t0
    os.execute("kill -CONT " .. pid)
    T.check("no call waited for the frozen broker", r[1], r[2])
    T.check("publish said nil, \"busy\" once the socket took nothing more (" .. busy .. " of " .. calls .. " calls)",
        busy > 0)
    T.check("  every publish returned at once (slowest " .. ms(worst) .. ")", worst < 0.25)
    T.eq("keepalive found the dead link: step() returned nil, \"pingresp\"", "pingresp", ended)
    T.check(("  within keepalive + ping timeout (3 s; measured %.2f s)"):format(dt), dt < 6)
end)

-- n QoS 2 publishes to PREFIX/data on the broker, checked to return true, then disconnect()
-- at once (given `seconds`); returns the client, what disconnect returned (T.within's
-- results) and a mosquitto_sub on PREFIX/# that was there before the first publish.
local function publish_qos2_then_disconnect(prefix, n, seconds)
    local sub = T.mosquitto_sub(PORT, prefix)
    local m = assert(mqttc.connect("127.0.0.1", f, {port = PORT}))
    local all = true
    for i = 1, n do all = m:publish(prefix .. "/data", tostring(i), {qos = 2}) == true and all end
    T.check(n .. " QoS 2 publishes return true", all)
    return m, T.within(seconds, m.disconnect, m), sub
end

T.run("disconnect finishes the flows", function()
    -- issue 11: 100 QoS 2 publishes and disconnect() at once: all 100 reach a subscriber
    local m, r, sub = publish_qos2_then_disconnect("drain", 100, 30)
    T.eq("disconnect() right after them returns true (every flow completed)", true, r[2], r[3])
    T.eq("  no flow left: inflight() 0", 0, inflight(m))
    T.eq("  mqtt.error", "disconnect", m.error)
    T.eq("mosquitto_sub received 100 of 100", 100, sub:wait("data", 100, 5))
    sub:stop()
end)

T.run("1000 QoS 2 to a default mosquitto", function()
    -- mosquitto 2.0 keeps at most 20 unreleased QoS 2 messages of a client and drops the
    -- rest with a PUBREC a 3.1.1 client cannot read; a window of 20 loses nothing
    local _, r, sub = publish_qos2_then_disconnect("thousand", 1000, 60)
    T.eq("then disconnect() returns true", true, r[2], r[3])
    T.eq("mosquitto_sub -q 2 received 1000 of 1000", 1000, sub:wait("data", 1000, 5))
    sub:stop()
end)

T.run("disconnect timeout", function()
    -- a broker that never answers: disconnect() gives up after opt.disconnecttimeout
    local m, s, c = fake_client({disconnecttimeout = 0.3})
    assert(m:publish("dt/x", "1", {qos = 1}))
    T.eq("the broker got the PUBLISH", 3, (T.read_packet(s)))
    local r = T.within(10, m.disconnect, m)
    T.eq("no PUBACK: disconnect() returns nil, \"timeout\"", "timeout", r[3])
    T.check("  as nil, err", r[1] and r[2] == nil)
    T.check("  after opt.disconnecttimeout (0.3 s; measured " .. ms(r.seconds) .. ")", r.seconds > 0.25 and r.seconds < 5)
    T.eq("  inflight() tells 1 flow unfinished", 1, inflight(m))
    T.eq("  mqtt.error says timeout", "timeout", m.error)
    T.eq("  DISCONNECT went out anyway", 14, (T.read_packet(s)))
    c:close()
    s:close()
end)

T.run("asynchronous disconnect", function()
    -- in asynchronous mode disconnect() starts the drain; step() finishes it
    local m, s, c = fake_client()
    local done = 0
    T.eq("step()", true, m:step())
    assert(m:publish("ad/x", "1", {qos = 1, onpublished = function(...) done = done + 1 + select("#", ...) end}))
    local _, _, body = T.read_packet(s)
    local t0 = T.now()
    T.eq("disconnect() returns true at once (the drain has started)", true, m:disconnect())
    T.check("  without waiting (" .. ms(T.now() - t0) .. ")", T.now() - t0 < 0.2)
    T.eq("publish while draining: nil, \"disconnect\"", "disconnect", select(2, m:publish("ad/y", "late")))
    T.eq("step() goes on while the flow is open", true, m:step())
    s:settimeout(0.2)
    T.eq("  no DISCONNECT yet", nil, (s:receive(1)))
    s:send(puback(publish_id(body)))
    T.pump(m, function() return T.ended[m] ~= nil end, 5)
    T.eq("the PUBACK ends the drain: step() returns nil, \"disconnect\"", "disconnect", T.ended[m])
    T.eq("  onpublished ran once, with no arguments", 1, done)
    T.eq("  then DISCONNECT", 14, (T.read_packet(s)))
    T.eq("  inflight() 0", 0, inflight(m))
    c:close()
    s:close()
end)

T.run("close", function()
    -- blocking mode: close() lets the open flows finish, as disconnect() does
    local m, s, c = fake_client()
    assert(m:publish("cl/x", "1", {qos = 1}))
    local _, _, body = T.read_packet(s)
    s:send(puback(publish_id(body))) -- read by close() while it drains
    local r = T.within(5, m.close, m)
    T.eq("blocking mode: close() returns true", true, r[2])
    T.eq("  after the PUBACK came in: inflight() 0", 0, inflight(m))
    T.eq("  the end was a clean disconnect", "disconnect", m.error)
    T.eq("  DISCONNECT went out", 14, (T.read_packet(s)))
    c:close()
    s:close()
    -- asynchronous mode: close() is at once; DISCONNECT all the same (no will), the open
    -- flow is given up
    m, s, c = fake_client()
    m:step()
    assert(m:publish("cl/y", "1", {qos = 1}))
    T.eq("the broker got the PUBLISH", 3, (T.read_packet(s)))
    r = T.within(5, m.close, m)
    T.check("asynchronous mode: close() at once (" .. ms(r.seconds) .. ")", r[2] == true and r.seconds < 0.2)
    T.eq("  DISCONNECT went out all the same (no will)", 14, (T.read_packet(s)))
    T.eq("  inflight() counts the flow given up", 1, inflight(m))
    T.eq("  mqtt.error: timeout (the flow did not finish)", "timeout", m.error)
    c:close()
    s:close()
    -- the garbage collector does what asynchronous close() does, to a draining client too
    do
        local lost, err
        lost, err, c, s = T.fake_connect(CONNACK)
        assert(lost, err)
        lost:step()
        assert(lost:publish("cl/z", "1", {qos = 1}))
        assert(lost:disconnect())
    end
    collectgarbage()
    collectgarbage()
    T.eq("a collected client, draining: CONNECT, PUBLISH", "1,3", table.concat({T.read_packet(s), (T.read_packet(s))}, ","))
    T.eq("  then DISCONNECT (no will)", 14, (T.read_packet(s)))
    c:close()
    s:close()
end)

T.run("a full window inside a callback", function()
    -- acks are read by the step that runs the callback, after it: a callback cannot wait
    -- for a slot, in blocking mode either
    local results, m = {}, nil
    local err, c, s
    m, err, c, s = T.fake_connect(CONNACK .. publish0("cb/go", "1"), {disconnecttimeout = 0.3}, function()
        for i = 1, 21 do
            local ok, perr = m:publish("cb/x", tostring(i), {qos = 1})
            results[i] = ok and "true" or perr
        end
        m:disconnect()
    end)
    assert(m, err)
    local r = T.within(10, m.run, m)
    T.eq("20 publishes from a callback fill the window", "true", results[20])
    T.eq("  the 21st: nil, \"busy\" (blocking mode too)", "busy", results[21])
    T.eq("  disconnect() from the callback: run() drains, then says timeout (nothing acked)", "timeout", r[3])
    c:close()
    s:close()
end)

T.run("onpublished and inflight", function()
    local m = T.client(PORT)
    local order = {}
    T.eq("inflight() of an idle client: 0, 0", "0 0", table.concat({m:inflight()}, " "))
    assert(m:publish("op/1", "a", {qos = 1, onpublished = function() order[#order + 1] = "q1" end}))
    assert(m:publish("op/2", "b", {qos = 2, onpublished = function() order[#order + 1] = "q2" end}))
    assert(m:publish("op/3", "c", {qos = 2}))
    T.eq("inflight() right after: 3 outgoing", 3, (m:inflight()))
    T.pump(m, function() return #order >= 2 and m:inflight() == 0 end, 10)
    T.eq("onpublished runs on PUBACK (QoS 1) and PUBCOMP (QoS 2), in the broker's order", "q1,q2",
        table.concat(order, ","))
    T.eq("  inflight() 0 once all completed", 0, (m:inflight()))
    m:close()
end)

T.run("incoming QoS 2", function()
    -- inflight()'s second count: the broker's QoS 2 messages awaiting PUBREL; a disconnect
    -- waits for those releases too [MQTT-4.3.3]
    local got = {}
    local m, s, c = fake_client(nil, function(topic, msg) got[#got + 1] = msg end)
    local body = u16(4) .. "in/2" .. u16(7) .. "two"
    s:send(string.char(0x34, #body) .. body) -- PUBLISH QoS 2, id 7
    T.pump(m, function() return #got >= 1 end, 5)
    T.eq("the message is delivered on PUBLISH", "two", got[1])
    T.eq("  PUBREC answers it", "5:" .. u16(7), (function()
        local t, _, b = T.read_packet(s)
        return t .. ":" .. b
    end)())
    T.eq("inflight(): 0 of ours, 1 of the broker's awaiting PUBREL", "0 1", table.concat({m:inflight()}, " "))
    T.eq("disconnect() starts the drain", true, m:disconnect())
    T.eq("  step() goes on until the PUBREL", true, m:step())
    s:send("\98\2" .. u16(7)) -- PUBREL
    T.pump(m, function() return T.ended[m] ~= nil end, 5)
    T.eq("PUBREL, PUBCOMP: the drain ends with disconnect", "disconnect", T.ended[m])
    T.eq("  PUBCOMP, then DISCONNECT", "7,14", (T.read_packet(s)) .. "," .. (T.read_packet(s)))
    T.eq("  inflight() 0 0", "0 0", table.concat({m:inflight()}, " "))
    c:close()
    s:close()
end)

T.run("messages right after CONNACK", function()
    -- a broker resuming a session sends CONNACK and its queued messages in one write:
    -- connect() returns the client first, run()/step() deliver them
    local function connect_with_early_message(deliver)
        local c, s = T.fake_pair()
        s:send(CONNACK .. publish0("early/1", "queued") .. publish0("early/2", "too"))
        local mqtt, got, at_return = nil, {}, nil
        local ok, err = pcall(function()
            mqtt = mqttc.connect(c, function(topic, msg)
                got[#got + 1] = topic .. "=" .. msg .. (mqtt.error == nil and " (client known)" or "")
                if #got == 2 then mqtt:disconnect() end
            end, {disconnecttimeout = 0.3})
            at_return = #got
        end)
        local result = ok and deliver(mqtt) or nil
        c:close()
        s:close()
        return ok, err, at_return, got, result
    end
    local ok, err, at_return, got, result = connect_with_early_message(function(m) return select(2, m:run()) end)
    T.check("connect() returns (onpub indexes the client connect returns)", ok, err)
    T.eq("  nothing was delivered before it returned", 0, at_return)
    T.eq("run() delivers the first", "early/1=queued (client known)", got[1])
    T.eq("  and the second, which disconnects", "early/2=too (client known)", got[2])
    T.eq("  run() ends: disconnect", "disconnect", result)
    ok, err, at_return, got = connect_with_early_message(function(m)
        return T.pump(m, function() return #got >= 2 end, 5)
    end)
    T.check("asynchronous: connect() returns first", ok, err)
    T.eq("  the first step() delivers both", "early/1=queued (client known),early/2=too (client known)",
        table.concat(got, ","))
end)

T.finish()
