-- tests/lua/create.lua - the MQTT 5 API require"mqttc".create (issue 16) against mosquitto
-- 2.0 (BROKER_PORT), the minibroker (MB_PORT, and ones of its own from MINIBROKER) and an
-- in-process fake broker; mosquitto_sub -V 5 / mosquitto_pub -V 5 as outside peers.
package.path = arg[0]:gsub("[^/]+$", "") .. "?.lua;" .. package.path
local T = require"testlib"
local mqttc, socket = T.mqttc, T.socket
local MQ = T.port("BROKER_PORT")
local MB = T.port("MB_PORT")
local MINIBROKER = T.env("MINIBROKER")
local TAG = (os.getenv("LUA_BIN") or "lua") .. "-" .. tostring(os.time() % 100000)

local function free_port()
    local s = assert(socket.bind("127.0.0.1", 0))
    local _, port = s:getsockname()
    s:close()
    return tonumber(port)
end

-- a client on a broker, stepped by T.pump until onstatus saw the CONNACK
local function connected(port, opt, prop, onpub)
    local st = {}
    opt = opt or {}
    opt.port = opt.port or port
    local m = mqttc.create("127.0.0.1", function(t, c, s)
        st[#st + 1] = {t, c, s}
        return true
    end, onpub, opt, prop)
    assert(T.pump(m, function() return #st > 0 end, 10), "no onstatus")
    return m, st
end

T.run("arguments are checked before any I/O", function()
    local ok, err = pcall(mqttc.create, nil, print)
    T.check("addr of the wrong type", not ok and err:find("bad argument #1 to 'create' (string or function expected, got nil)", 1, true), err)
    ok, err = pcall(mqttc.create, "127.0.0.1")
    T.check("onstatus missing", not ok and err:find("bad argument #2 to 'create' (function expected, got nil)", 1, true), err)
    ok, err = pcall(mqttc.create, "127.0.0.1", print, nil, {kepalive = 5})
    T.check("a misspelt option raises", not ok and err:find("opt.kepalive: unknown option", 1, true), err)
    ok, err = pcall(mqttc.create, "127.0.0.1", print, nil, {alpn = "x"})
    T.check("opt.alpn without TLS raises (never ignored)", not ok and err:find("opt.alpn: needs opt.secure=true", 1, true), err)
    ok, err = pcall(mqttc.create, "127.0.0.1", print, nil, {alpn = "a,,b", secure = true})
    T.check("opt.alpn with an empty protocol name raises", not ok and err:find("alpn", 1, true), err)
    ok, err = pcall(mqttc.create, "127.0.0.1", print, nil, {}, {receivemaximum = 0})
    T.check("prop.receivemaximum 0 raises", not ok and err:find("receivemaximum", 1, true), err)
    ok, err = pcall(mqttc.create, "127.0.0.1", print, nil, {}, {serverkeepalive = 5})
    T.check("a property CONNECT may not carry raises", not ok and err:find("not valid", 1, true), err)
end)

T.run("CONNACK: onstatus('mqtt', 'connect', {reasoncode, sessionpresent, properties})", function()
    local m, st = connected(MQ, {clientidentifier = "c5-" .. TAG}, {sessionexpiryinterval = 30})
    T.eq("type", "mqtt", st[1][1])
    T.eq("code", "connect", st[1][2])
    T.eq("reasoncode", 0, st[1][3].reasoncode)
    T.eq("sessionpresent", false, st[1][3].sessionpresent)
    T.eq("properties is a table", "table", type(st[1][3].properties))
    local q, up, down = m:status()
    T.check("status(): 0 queued, connected, not disconnected", q == 0 and up and not down)
    m:close()
    q, up, down = m:status()
    T.check("status() after close: disconnected", not up and down)
end)

T.run("Receive Maximum and Topic Alias Maximum are real CONNECT properties", function()
    local cs, ss = T.fake_pair()
    local m = mqttc.create(function() return cs end, function() return false end, nil,
        {clientidentifier = "fake"}, {receivemaximum = 7, topicaliasmaximum = 3, maximumpacketsize = 5000, foo = "bar"})
    m:step()
    local ty, _, body = T.read_packet(ss, 5)
    T.eq("the first packet is CONNECT", 1, ty)
    body = body or ""
    T.check("protocol level 5", body:sub(7, 7) == "\5")
    T.check("Receive Maximum 7 (0x21 0x0007)", body:find("\33\0\7", 1, true))
    T.check("Topic Alias Maximum 3 (0x22 0x0003)", body:find("\34\0\3", 1, true))
    T.check("Maximum Packet Size 5000 (0x27)", body:find("\39\0\0\19\136", 1, true))
    T.check("foo=bar as a user property (0x26)", body:find("\38\0\3foo\0\3bar", 1, true))
    T.check("keepalive 60 by default", body:sub(9, 10) == "\0\60")
    m:close()
    ss:close()
    cs:close()
end)

T.run("properties round-trip through mosquitto_sub -V 5 -F and mosquitto_pub -V 5 -D", function()
    local got = {}
    local m = connected(MQ, {clientidentifier = "rt-" .. TAG}, nil, function(topic, payload, prop, cpt)
        got[#got + 1] = {topic = topic, payload = payload, prop = prop, cpt = cpt}
    end)
    local topic = "c5/" .. TAG .. "/rt"
    local file = os.tmpname()
    local pid = T.spawn_to(("exec mosquitto_sub -V 5 -h 127.0.0.1 -p %d -t '%s/in' -C 1 -W 20 -F '%%t|%%C|%%R|%%D|%%E|%%F|%%P|%%p'")
        :format(MQ, topic), file)
    local code
    assert(m:subscribe(topic .. "/out", function(rc) code = rc end, {qos = 1}))
    T.pump(m, function() return code ~= nil end, 10)
    socket.sleep(0.5) -- mosquitto_sub subscribes meanwhile
    assert(m:publish(topic .. "/in", "payload1", {qos = 1}, {contenttype = "text/plain", responsetopic = topic .. "/reply",
        correlationdata = "corr\0id", messageexpiryinterval = 300, payloadformatindicator = 1, color = "blue"}))
    T.pump(m, function() return T.read_file(file):find("\n") ~= nil end, 10)
    local line = T.read_file(file):gsub("\n.*", "")
    os.execute("kill " .. pid .. " 2>/dev/null")
    os.remove(file)
    T.eq("mosquitto_sub -F sees every property", topic .. "/in|text/plain|" .. topic .. "/reply|corr\0id|300|1|color:blue|payload1", line)
    os.execute(("mosquitto_pub -V 5 -h 127.0.0.1 -p %d -q 1 -t '%s/out' -m hi -D publish content-type app/x " ..
        "-D publish user-property k v1 -D publish user-property k v2 -D publish correlation-data cd -r"):format(MQ, topic))
    T.pump(m, function() return #got > 0 end, 10)
    local g = got[1] or {prop = {}, cpt = {}}
    T.eq("onpub topic", topic .. "/out", g.topic)
    T.eq("onpub payload", "hi", g.payload)
    T.eq("contenttype", "app/x", g.prop.contenttype)
    T.eq("correlationdata", "cd", g.prop.correlationdata)
    T.check("a repeated user property is a list", type(g.prop.k) == "table" and g.prop.k[1] == "v1" and g.prop.k[2] == "v2")
    T.eq("cpt.qos", 1, g.cpt.qos)
    T.check("subscriptionidentifier: the client's own", type(g.prop.subscriptionidentifier) == "number")
    os.execute(("mosquitto_pub -V 5 -h 127.0.0.1 -p %d -t '%s/out' -n -r"):format(MQ, topic)) -- clear the retained
    m:close()
end)

T.run("subscription options: nolocal, retainhandling and retainaspublished independently", function()
    local got = {}
    local m = connected(MQ, {clientidentifier = "so-" .. TAG}, nil, function(topic, _, _, cpt)
        got[#got + 1] = {topic = topic, retain = cpt.retain}
    end)
    local base = "c5/" .. TAG .. "/so"
    os.execute(("mosquitto_pub -h 127.0.0.1 -p %d -t '%s/r' -m kept -r -q 1"):format(MQ, base))
    local n = 0
    local function sub(f, o) assert(m:subscribe(f, function() n = n + 1 end, o)) end
    sub(base .. "/nl", {nolocal = true})
    sub(base .. "/r", {retainhandling = 2, retainaspublished = true})
    sub(base .. "/rap", {retainaspublished = true})
    T.pump(m, function() return n == 3 end, 10)
    m:publish(base .. "/nl", "own")
    m:publish(base .. "/rap", "flagged", {retain = true})
    m:publish(base .. "/r", "live")
    T.pump(m, function() return #got >= 2 end, 5)
    T.pump(m, function() return false end, 0.3)
    local seen = {}
    for _, g in ipairs(got) do seen[g.topic] = g end
    T.check("nolocal: our own message did not come back", seen[base .. "/nl"] == nil)
    T.check("retainhandling 2: the retained message was not sent", #got == 2, #got)
    T.check("retainaspublished: RETAIN kept", seen[base .. "/rap"] and seen[base .. "/rap"].retain == true)
    T.check("retainhandling 2 with retainaspublished: live message, retain flag as published",
        seen[base .. "/r"] and seen[base .. "/r"].retain == false)
    os.execute(("mosquitto_pub -h 127.0.0.1 -p %d -t '%s/r' -n -r"):format(MQ, base))
    os.execute(("mosquitto_pub -h 127.0.0.1 -p %d -t '%s/rap' -n -r"):format(MQ, base))
    m:close()
end)

T.run("per-subscription onpub by subscription identifier (overlapping filters)", function()
    local a, b, g = 0, 0, 0
    local m = connected(MQ, {clientidentifier = "id-" .. TAG}, nil, function() g = g + 1 end)
    local base = "c5/" .. TAG .. "/ids"
    local n = 0
    m:subscribe(base .. "/#", function() n = n + 1 end, {onpub = function() a = a + 1 end})
    m:subscribe(base .. "/x", function() n = n + 1 end, {onpub = function() b = b + 1 end})
    T.pump(m, function() return n == 2 end, 10)
    m:publish(base .. "/x", "1")
    m:publish(base .. "/y", "2")
    T.pump(m, function() return a == 2 and b == 1 end, 5)
    T.pump(m, function() return false end, 0.3)
    T.check("each handler got exactly its messages, none to the global onpub", a == 2 and b == 1 and g == 0,
        ("a=%d b=%d global=%d"):format(a, b, g))
    m:close()
end)

T.run("incoming topic aliases are resolved before onpub (prop.topicaliasmaximum)", function()
    local port = free_port()
    local pid = T.spawn(("exec %s -p %d --alias-out 5"):format(MINIBROKER, port))
    socket.sleep(0.3)
    local topics, n = {}, 0
    local m = connected(port, {clientidentifier = "al-" .. TAG}, {topicaliasmaximum = 5}, function(topic, _, prop)
        topics[#topics + 1] = topic .. (prop.topicalias and "+alias" or "")
    end)
    m:subscribe("al/#", function() n = n + 1 end)
    T.pump(m, function() return n == 1 end, 5)
    for i = 1, 3 do m:publish("al/x", tostring(i)) end
    T.pump(m, function() return #topics == 3 end, 5)
    T.eq("three messages, each with its whole topic", "al/x+alias al/x+alias al/x+alias", table.concat(topics, " "))
    m:close()
    os.execute("kill " .. pid)
end)

T.run("the queue: false while offline, nil,'queuefull' past maxqueue; sent after connecting", function()
    local port = free_port()
    local statuses = {}
    local m = mqttc.create("127.0.0.1", function(t, c)
        statuses[#statuses + 1] = t .. ":" .. tostring(c)
        return 0.2
    end, nil, {port = port, maxqueue = 200, clientidentifier = "q-" .. TAG})
    local r1 = m:publish("c5/q", string.rep("x", 100), {qos = 1})
    local r2, e2 = m:publish("c5/q", string.rep("y", 100), {qos = 1})
    T.eq("offline publish returns false (queued)", false, r1)
    T.check("past maxqueue: nil, 'queuefull'", r2 == nil and e2 == "queuefull", tostring(r2) .. " " .. tostring(e2))
    local r3, e3 = m:publish("c5/q", "qos0")
    T.check("QoS 0 offline is not queued: nil and why", r3 == nil and type(e3) == "string", tostring(e3))
    T.eq("status(): 1 queued", 1, (m:status()))
    T.pump(m, function() return #statuses > 0 end, 5)
    T.eq("the failed connect told: sock, cannotconnect", "sock:cannotconnect", statuses[1])
    local pid = T.spawn(("exec %s -p %d"):format(MINIBROKER, port))
    T.pump(m, function() local _, up = m:status() return up end, 10)
    T.pump(m, function() return (m:status()) == 0 end, 5)
    T.eq("after connecting the queue drained", 0, (m:status()))
    m:close()
    os.execute("kill " .. pid)
end)

T.run("onstatus across broker kills: run() reconnects as onstatus says, false stops", function()
    local port = free_port()
    local pid = T.spawn(("exec %s -p %d"):format(MINIBROKER, port))
    socket.sleep(0.3)
    local seq = {}
    local m = mqttc.create("127.0.0.1", function(t, c, s)
        seq[#seq + 1] = t .. ":" .. c .. (s and s.reasoncode and ("/" .. s.reasoncode) or "")
        if c == "connect" then -- the broker goes away under us
            os.execute("kill " .. pid)
            return true
        end
        if #seq == 2 then -- back in a moment
            pid = T.spawn(("exec %s -p %d"):format(MINIBROKER, port))
            socket.sleep(0.3)
            return 0.1
        end
        return false
    end, nil, {port = port, clientidentifier = "k-" .. TAG})
    local r = T.within(20, function() return m:run() end)
    T.eq("the sequence", "mqtt:connect/0 sock:closed mqtt:connect/0 sock:closed", table.concat(seq, " "))
    T.check("run() went through the reconnect and returned nil, 'closed' once onstatus said false",
        r[1] and r[2] == nil and r[3] == "closed", tostring(r[2]) .. " " .. tostring(r[3]))
    local _, up, down = m:status()
    T.check("stopped: disconnected", not up and down)
    m:close()
end)

T.run("the broker's DISCONNECT: reason code and properties reported", function()
    local port = free_port()
    local pid = T.spawn(("exec %s -p %d --disconnect-after 2 --disconnect-reason 0x98 --disconnect-string bye")
        :format(MINIBROKER, port))
    socket.sleep(0.3)
    local seq = {}
    local m = mqttc.create("127.0.0.1", function(t, c, s)
        seq[#seq + 1] = {t, c, s}
        return false
    end, nil, {port = port})
    T.pump(m, function() return #seq > 0 end, 5)
    m:publish("c5/d", "x")
    T.pump(m, function() return #seq > 1 end, 5)
    local d = seq[2] or {}
    T.eq("type", "mqtt", d[1])
    T.eq("code", "disconnect", d[2])
    T.eq("reasoncode 0x98", 0x98, d[3] and d[3].reasoncode)
    T.eq("reasonstring", "bye", d[3] and d[3].properties.reasonstring)
    m:close()
    os.execute("kill " .. pid)
end)

T.run("every method from inside callbacks", function()
    local log = {}
    local m
    local base = "c5/" .. TAG .. "/cb"
    m = mqttc.create("127.0.0.1", function(t, c)
        log[#log + 1] = "status:" .. c
        if c == "connect" then
            T.check("status() in onstatus", select(2, m:status()))
            T.check("setwill in onstatus", m:setwill({topic = base .. "/will", payload = "gone", properties = {contenttype = "t"}}))
            T.check("subscribe in onstatus", m:subscribe(base .. "/#", function(rc, p)
                log[#log + 1] = "suback:" .. rc
                T.check("publish in onsuback", m:publish(base .. "/a", "1", {qos = 1}))
            end, {qos = 1}))
        end
        return true
    end, function(topic)
        log[#log + 1] = "pub:" .. topic
        T.check("unsubscribe in onpub", m:unsubscribe(base .. "/#", function(rc)
            log[#log + 1] = "unsuback:" .. rc
            T.check("disconnect in onunsubscribe", m:disconnect())
        end))
    end, {port = MQ, clientidentifier = "cb-" .. TAG})
    local r = T.within(15, function() return m:run() end)
    T.check("run() ended with nil, 'disconnect'", r[1] and r[3] == "disconnect", tostring(r[3]))
    T.eq("the order", "status:connect suback:1 pub:" .. base .. "/a unsuback:0", table.concat(log, " "))
    m:close()
end)

T.run("cqueues: run() in a coroutine, another one publishes", function()
    local cqueues = require"cqueues"
    local cq = cqueues.new()
    local got, m = nil, nil
    local base = "c5/" .. TAG .. "/cq"
    m = mqttc.create("127.0.0.1", function(_, c)
        if c == "connect" then m:subscribe(base) end
        return true
    end, function(_, payload)
        got = payload
        m:disconnect()
    end, {port = MQ, clientidentifier = "cq-" .. TAG})
    local res
    cq:wrap(function() res = {m:run()} end)
    cq:wrap(function()
        while not select(2, m:status()) do cqueues.sleep(0.05) end
        cqueues.sleep(0.2)
        m:publish(base, "from another coroutine", {qos = 1})
    end)
    local ok, err = cq:loop(15)
    T.check("the loop ended cleanly", ok, err)
    T.eq("got the message", "from another coroutine", got)
    T.eq("run() returned nil, 'disconnect'", "disconnect", res and res[2])
end)

T.finish()
