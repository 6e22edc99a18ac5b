-- tests/lua/features.lua - what the API does, against the broker on BROKER_PORT (minibroker
-- or mosquitto): handlers per filter, SUBACK/UNSUBACK callbacks, QoS 1 and 2, retained
-- messages, the will, binary payloads of 1 MiB, callbacks calling methods and raising, and
-- the life cycle (close, __gc, __close, __tostring).
package.path = arg[0]:gsub("[^/]+$", "") .. "?.lua;" .. package.path
local T = require"testlib"
local mqttc, socket = T.mqttc, T.socket
local PORT = T.port("BROKER_PORT")
local NAME = T.env("BROKER_NAME")
local f = function() end
local function count(list, topic)
    local n = 0
    for _, m in ipairs(list) do if m.topic == topic then n = n + 1 end end
    return n
end

T.run("handlers per filter", function()
    local m, global = T.client(PORT)
    local h = {plus = {}, hash = {}, other = {}}
    local function into(list) return function(topic, msg) list[#list + 1] = topic .. "=" .. msg end end
    T.eq("subscribe with a handler for + answers granted QoS 0", 0, T.subscribed(m, "f/+/c", {onpub = into(h.plus)}))
    T.eq("subscribe(topic, {onpub=}) (the original's shifted arguments) works", true,
        m:subscribe("f/b/#", {onpub = into(h.hash)}))
    T.subscribed(m, "f/g")
    assert(m:publish("f/x/c", "1"))
    assert(m:publish("f/b/1/2", "2"))
    assert(m:publish("f/b", "3"))
    assert(m:publish("f/g", "4"))
    T.pump(m, function() return #h.plus >= 1 and #h.hash >= 2 and #global >= 1 end, 10)
    T.eq("'f/+/c' takes f/x/c", "f/x/c=1", h.plus[1])
    T.eq("'f/b/#' takes f/b/1/2", "f/b/1/2=2", h.hash[1])
    T.eq("'f/b/#' takes f/b (the parent level)", "f/b=3", h.hash[2])
    T.eq("a message no handler takes goes to onpub", "f/g", global[1] and global[1].topic)
    T.eq("  ... and only that one", 1, #global)
    -- subscribing the same filter again replaces its handler
    T.subscribed(m, "f/+/c", {onpub = into(h.other)})
    assert(m:publish("f/y/c", "5"))
    T.pump(m, function() return #h.other >= 1 end, 10)
    T.eq("a new subscribe replaces the filter's handler", "f/y/c=5", h.other[1])
    T.eq("  the old handler got nothing more", 1, #h.plus)
    -- UNSUBACK: callback without arguments; the filter's handler is gone
    local unsub_args
    assert(m:unsubscribe("f/b/#", function(...) unsub_args = select("#", ...) end))
    T.pump(m, function() return unsub_args ~= nil end, 10)
    T.eq("the UNSUBACK callback runs, with no arguments", 0, unsub_args)
    T.subscribed(m, "f/b/z") -- no handler of its own
    assert(m:publish("f/b/z", "6"))
    T.pump(m, function() return count(global, "f/b/z") >= 1 end, 10)
    T.eq("after UNSUBACK the removed handler gets nothing", 2, #h.hash)
    T.eq("  the message goes to onpub", 1, count(global, "f/b/z"))
    m:close()
end)

T.run("QoS", function()
    local m, got = T.client(PORT)
    T.eq("SUBACK grants QoS 2", 2, T.subscribed(m, "q/#", {qos = 2}))
    T.eq("publish QoS 1 returns true", true, m:publish("q/1", "one", {qos = 1}))
    T.eq("publish QoS 2 returns true", true, m:publish("q/2", "two", {qos = 2}))
    T.eq("publish QoS 0 returns true", true, m:publish("q/0", "zero"))
    T.pump(m, function() return #got >= 3 end, 10)
    local by = {}
    for _, g in ipairs(got) do by[g.topic] = g end
    T.eq("QoS 1 round trip: delivered with QoS 1", 1, by["q/1"] and by["q/1"].qos)
    T.eq("QoS 2 round trip: delivered with QoS 2", 2, by["q/2"] and by["q/2"].qos)
    T.eq("QoS 0: delivered with QoS 0", 0, by["q/0"] and by["q/0"].qos)
    T.eq("  payload intact", "two", by["q/2"] and by["q/2"].msg)
    T.check("  not marked dup", by["q/2"] and by["q/2"].dup == false)
    m:close()
end)

T.run("retained", function()
    local a = T.client(PORT)
    assert(a:publish("ret/a", "kept", {retain = true, qos = 1}))
    assert(a:publish("ret/b", "live"))
    local b, got = T.client(PORT)
    T.subscribed(b, "ret/#")
    T.pump(b, function() return #got >= 1 end, 10)
    T.eq("a later subscriber gets the retained message", "kept", got[1] and got[1].msg)
    T.eq("  with the retain flag", true, got[1] and got[1].retain)
    assert(a:publish("ret/a", "", {retain = true})) -- clears it
    assert(a:publish("ret/c", "now"))
    T.pump(b, function() return #got >= 2 end, 10)
    T.eq("a live message is not marked retained", false, got[2] and got[2].retain)
    a:close()
    b:close()
end)

T.run("will", function()
    local m, got = T.client(PORT)
    T.subscribed(m, "will/" .. NAME .. "/#", {qos = 1})
    local function child(how)
        -- a client in another process; `how` ends it: os.exit() after close, or kill -9
        local code = ([[
            os.remove(arg[0])
            local m = assert(require"mqttc".connect("127.0.0.1", function() end,
                {port = %d, will = {topic = "will/%s/%s", message = "gone\0!", qos = 1}}))
            assert(m:publish("will/%s/ready", "%s", {qos = 1}))
            if %s then m:close() os.exit(0) end
            m:run()]]):format(PORT, NAME, how, NAME, how, how == "clean" and "true" or "false")
        local file = os.tmpname()
        local out = assert(io.open(file, "w"))
        out:write(code)
        out:close()
        return T.spawn(T.LUA .. " " .. file)
    end
    local pid = child("unclean")
    T.check("the child connected", T.pump(m, function() return count(got, "will/" .. NAME .. "/ready") >= 1 end, 20))
    os.execute("kill -9 " .. pid)
    T.pump(m, function() return count(got, "will/" .. NAME .. "/unclean") >= 1 end, 20)
    T.eq("killed without DISCONNECT: the will is published", 1, count(got, "will/" .. NAME .. "/unclean"))
    for _, g in ipairs(got) do
        if g.topic:find("unclean$") then T.eq("  its binary message intact", "gone\0!", g.msg) end
    end
    child("clean")
    T.pump(m, function() return count(got, "will/" .. NAME .. "/ready") >= 2 end, 20)
    -- the clean child is gone (DISCONNECT, then exit); a message after it proves the order
    local c2 = T.client(PORT)
    assert(c2:publish("will/" .. NAME .. "/marker", "x", {qos = 1}))
    T.pump(m, function() return count(got, "will/" .. NAME .. "/marker") >= 1 end, 10)
    T.eq("close() sends DISCONNECT: no will", 0, count(got, "will/" .. NAME .. "/clean"))
    c2:close()
    m:close()
end)

T.run("binary", function()
    local big = T.binary(1024 * 1024)
    T.check("the 1 MiB payload has zero bytes", big:find("\0", 1, true) ~= nil and #big == 1048576)
    -- m receives (stepped by T.pump: asynchronous mode); p publishes in blocking mode, where
    -- publish waits for the socket when the output buffer (64 KiB) is full
    local m, got = T.client(PORT)
    T.subscribed(m, "bin/#", {qos = 1})
    local p = T.client(PORT)
    T.eq("publish 1 MiB QoS 0", true, p:publish("bin/0", big))
    T.eq("publish 1 MiB QoS 1", true, p:publish("bin/1", big, {qos = 1}))
    T.eq("publish a payload of zeros", true, p:publish("bin/z", "\0\0\0"))
    T.eq("publish an empty payload", true, p:publish("bin/e", ""))
    T.pump(m, function() return #got >= 4 end, 30)
    local by = {}
    for _, g in ipairs(got) do by[g.topic] = g.msg end
    T.check("1 MiB QoS 0 round trip: identical", by["bin/0"] == big, by["bin/0"] and #by["bin/0"])
    T.check("1 MiB QoS 1 round trip: identical", by["bin/1"] == big, by["bin/1"] and #by["bin/1"])
    T.eq("zeros round trip", "\0\0\0", by["bin/z"])
    T.eq("empty round trip", "", by["bin/e"])
    -- 40 x 100 KiB at once: over the 64 KiB output buffer, publish waits for the socket
    local chunk = T.binary(100 * 1024)
    local all = true
    for i = 1, 40 do all = p:publish("bin/many", chunk) and all end
    T.check("40 publishes of 100 KiB in a row all return true (blocking mode)", all)
    T.pump(m, function() return count(got, "bin/many") >= 40 end, 60)
    T.eq("  all 40 arrive", 40, count(got, "bin/many"))
    p:close()
    m:close()
end)

T.run("in-flight window", function()
    -- op.maxinflight = 2: in blocking mode a third QoS 1 publish waits for a PUBACK (publish
    -- steps the client); m, stepped by T.pump, only receives
    local m, got = T.client(PORT)
    T.subscribed(m, "win/#")
    local p = T.client(PORT, {maxinflight = 2})
    local all = true
    for i = 1, 10 do all = p:publish("win/x", tostring(i), {qos = 1}) and all end
    T.check("10 QoS 1 publishes through a window of 2 all return true", all)
    T.eq("  disconnect() waits for the last PUBACKs: true", true, p:disconnect())
    T.eq("  none left in flight", 0, (p:inflight()))
    T.pump(m, function() return count(got, "win/x") >= 10 end, 10)
    T.eq("  all 10 arrive", 10, count(got, "win/x"))
    m:close()
end)

T.run("callbacks call methods", function()
    local m, events, stepped = nil, {}, nil
    m = T.client(PORT, nil, function(topic, msg)
        events[#events + 1] = topic
        if topic == "cb/1" then
            assert(m:publish("cb/2", "from a callback", {qos = 2}))
            assert(m:subscribe("cb2/x", function(rc) events[#events + 1] = "suback " .. rc end))
            assert(m:unsubscribe("cb/none"))
            stepped = select(2, pcall(m.step, m))
        elseif topic == "cb/2" then
            assert(m:publish("cb2/x", "via the new subscription"))
        elseif topic == "cb2/x" then
            m:disconnect()
        end
    end)
    T.subscribed(m, "cb/#", {qos = 2})
    assert(m:publish("cb/1", "go"))
    local ok, err = m:run()
    T.eq("publish, subscribe, unsubscribe, disconnect from callbacks: run() ends with disconnect", "disconnect", err)
    -- the SUBACK and the QoS 2 message may come in either order (broker's choice)
    local seen = table.concat(events, ",")
    T.check("  all callbacks ran: cb/1 first, cb2/x (needs the SUBACK) last",
        seen == "cb/1,cb/2,suback 0,cb2/x" or seen == "cb/1,suback 0,cb/2,cb2/x", seen)
    T.check("step() from a callback raises", tostring(stepped):find("called from inside a callback", 1, true), stepped)
end)

T.run("every callback kind calls methods", function()
    -- a per-filter handler publishes, onpub unsubscribes, the UNSUBACK callback disconnects
    local m, trail = nil, {}
    m = T.client(PORT, nil, function(topic)
        trail[#trail + 1] = "onpub " .. topic
        m:unsubscribe("kind/a", function()
            trail[#trail + 1] = "unsuback"
            m:disconnect()
        end)
    end)
    T.subscribed(m, "kind/a", {onpub = function(topic)
        trail[#trail + 1] = "handler " .. topic
        m:publish("kind/b", "from a per-filter handler")
    end})
    T.subscribed(m, "kind/b")
    m:publish("kind/a", "go")
    local ok, err = m:run()
    T.eq("handler -> publish, onpub -> unsubscribe, onunsuback -> disconnect", "handler kind/a,onpub kind/b,unsuback",
        table.concat(trail, ","))
    T.eq("  run() ends with disconnect", "disconnect", err)
end)

T.run("no allocation per message", function()
    -- 2000 messages whose topic and payload strings exist already (interned): receiving them
    -- allocates nothing in Lua, so with the collector stopped the heap stays where it was
    local topic, payload, n, m = "alloc/t", "x", 0, nil
    m = T.client(PORT, nil, function(t, msg)
        n = n + 1
        if n == 2000 then m:disconnect() end
    end)
    T.subscribed(m, "alloc/t")
    for i = 1, 2000 do m:publish(topic, payload) end
    collectgarbage()
    collectgarbage("stop")
    local before = collectgarbage("count")
    local ok, err = m:run()
    local grown = collectgarbage("count") - before
    collectgarbage("restart")
    T.eq("2000 messages delivered", 2000, n)
    T.check(("  the Lua heap grew %.1f KiB over 2000 messages (less than 4 KiB)"):format(grown), grown < 4, grown)
end)

T.run("callback errors", function()
    local m, n = nil, 0
    local oops = {"a table as error"}
    m = T.client(PORT, nil, function(topic, msg)
        n = n + 1
        if msg == "boom" then error("boom") end
        if msg == "table" then error(oops) end
        if msg == "bye" then m:disconnect() end
    end)
    T.subscribed(m, "err/#", {qos = 1})
    m:publish("err/1", "boom", {qos = 1})
    m:publish("err/2", "fine", {qos = 1})
    m:publish("err/3", "fine", {qos = 1})
    local ok, err = pcall(m.run, m)
    T.check("an error in onpub reaches the caller of run()", not ok and tostring(err):find("boom", 1, true), err)
    T.pump(m, function() return n >= 3 end, 10)
    T.eq("  the other messages were still delivered", 3, n)
    T.eq("  the client is still connected", nil, m.error)
    m:publish("err/4", "table")
    ok, err = pcall(m.run, m)
    T.check("an error object comes back as it was raised", err == oops, tostring(err))
    local bad_sub = m:subscribe("err2", function() error("in suback") end)
    ok, err = pcall(m.run, m)
    T.check("an error in a SUBACK callback reaches run() too", not ok and tostring(err):find("in suback", 1, true), err)
    m:publish("err/5", "bye")
    ok, err = m:run()
    T.eq("afterwards the client runs on to a clean end", "disconnect", err)
end)

T.run("close and garbage", function()
    local m
    m = T.client(PORT, nil, function() m:close() end)
    T.check("__tostring shows the state", tostring(m):find("^mqttc client %(connected%)") ~= nil, tostring(m))
    T.subscribed(m, "close/#")
    m:publish("close/1", "x")
    local ok, err = m:run()
    T.eq("close() from a callback: run() returns disconnect", "disconnect", err)
    T.check("__tostring: closed and why", tostring(m):find("^mqttc client %(closed: disconnect%)") ~= nil, tostring(m))
    T.eq("close() again is fine", true, m:close())
    T.eq("getfd() of a closed client: -1", -1, m:getfd())
    T.eq("events() of a closed client: nil", nil, m:events())
    T.eq("timeout() of a closed client: nil", nil, m:timeout())
    ok, err = m:step()
    T.eq("step() of a closed client: nil, why", "disconnect", err)
    ok, err = m:publish("t", "m")
    T.eq("publish on a closed client: nil, why", "disconnect", err)
    T.eq("mqtt.sock is the client (getfd for socket.select)", m, m.sock)
    -- garbage: __gc closes with DISCONNECT (no will)
    local w, got = T.client(PORT)
    T.subscribed(w, "gc/" .. NAME .. "/#")
    do
        local lost = T.client(PORT, {will = {topic = "gc/" .. NAME .. "/will", message = "x"}})
        lost:publish("gc/" .. NAME .. "/hello", "x")
    end
    collectgarbage()
    collectgarbage()
    assert(w:publish("gc/" .. NAME .. "/after", "x"))
    T.pump(w, function() return count(got, "gc/" .. NAME .. "/after") >= 1 end, 10)
    T.eq("a collected client said DISCONNECT: no will", 0, count(got, "gc/" .. NAME .. "/will"))
    if _VERSION == "Lua 5.4" then
        local fd
        local run54 = assert(load([[
            local T, PORT = ...
            do
                local m <close> = T.client(PORT)
                return m
            end]]))
        local m2 = run54(T, PORT)
        T.check("<close> closes at the end of the block (Lua 5.4)", tostring(m2):find("closed", 1, true), tostring(m2))
    end
    w:close()
end)

T.run("socket objects and descriptors", function()
    -- an integer fd: the client owns it
    local s = assert(socket.connect("127.0.0.1", PORT))
    local fd = s:getfd()
    s:setfd(-1) -- LuaSocket forgets it: it is the client's now
    local m, got = T.client(PORT) -- a second client to see messages
    T.subscribed(m, "fd/#")
    local byfd = assert(mqttc.connect(fd, f))
    assert(byfd:publish("fd/x", "via an integer fd"))
    T.pump(m, function() return #got >= 1 end, 10)
    T.eq("connect(fd): works over the given descriptor", "via an integer fd", got[1] and got[1].msg)
    byfd:close()
    -- a LuaSocket object stays the script's: it can still be closed after the client ended
    local obj = assert(socket.connect("127.0.0.1", PORT))
    local byobj = assert(mqttc.connect(obj, f))
    assert(byobj:publish("fd/y", "via a LuaSocket object"))
    T.pump(m, function() return #got >= 2 end, 10)
    T.eq("connect(luasocket): works over its socket", "via a LuaSocket object", got[2] and got[2].msg)
    byobj:close()
    T.eq("  the object is still the script's to close", 1, obj:close())
    m:close()
end)

T.finish()
