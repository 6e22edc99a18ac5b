-- tests/lua/transports.lua - broker URLs (mqtt://, ws://) and op.proxy (SOCKS5 through
-- microsocks) for connect (the seed API) and create (MQTT 5), against mosquitto's plain
-- listener (BROKER_PORT) and its websockets listener (WS_PORT) on the same broker, and
-- microsocks with a login (SOCKS_PORT, user "u", password "p").
package.path = arg[0]:gsub("[^/]+$", "") .. "?.lua;" .. package.path
local T = require"testlib"
local mqttc = T.mqttc
local MQ, WS, SOCKS = T.port("BROKER_PORT"), T.port("WS_PORT"), T.port("SOCKS_PORT")
local TAG = (os.getenv("LUA_BIN") or "lua") .. "-" .. tostring(os.time() % 100000)

-- connect() over addr/op: a message to itself comes back
local function seed_roundtrip(name, addr, op)
    T.run(name, function()
        local got
        local m, err = mqttc.connect(addr, function(_, msg) got = msg end, op)
        T.check(name .. ": connected", m, err)
        if not m then return end
        local topic = "tr/" .. TAG .. "/" .. name:gsub("%W", "")
        T.subscribed(m, topic)
        m:publish(topic, "via " .. name, {qos = 1})
        T.pump(m, function() return got ~= nil end, 10)
        T.eq(name .. ": the message came back", "via " .. name, got)
        m:close()
    end)
end

-- create() over addr/opt: onstatus connect, then a message to itself comes back
local function create_roundtrip(name, addr, opt)
    T.run(name, function()
        local got, st, m = nil, nil, nil
        local topic = "tr/" .. TAG .. "/5" .. name:gsub("%W", "")
        m = mqttc.create(addr, function(t, c)
            st = t .. ":" .. c
            if c == "connect" then
                m:subscribe(topic, function() m:publish(topic, "via " .. name, {qos = 1}) end)
            end
            return false
        end, function(_, payload) got = payload end, opt)
        T.pump(m, function() return got ~= nil or (st and st ~= "mqtt:connect") end, 10)
        T.eq(name .. ": onstatus", "mqtt:connect", st)
        T.eq(name .. ": the message came back", "via " .. name, got)
        m:close()
    end)
end

seed_roundtrip("connect mqtt:// URL", "mqtt://127.0.0.1:" .. MQ)
seed_roundtrip("connect ws:// URL (mosquitto websockets)", "ws://127.0.0.1:" .. WS .. "/mqtt")
seed_roundtrip("connect through SOCKS5 (op.proxy)", "127.0.0.1", {port = MQ, proxy = "socks5h://u:p@127.0.0.1:" .. SOCKS})
create_roundtrip("create ws:// URL", "ws://127.0.0.1:" .. WS .. "/mqtt", {clientidentifier = "ws-" .. TAG})
create_roundtrip("create mqtt:// URL", "mqtt://127.0.0.1:" .. MQ, {clientidentifier = "url-" .. TAG})
create_roundtrip("create through SOCKS5 (opt.proxy)", "127.0.0.1",
    {port = MQ, proxy = "socks5://u:p@127.0.0.1:" .. SOCKS, clientidentifier = "sx-" .. TAG})
create_roundtrip("create ws:// through SOCKS5", "ws://127.0.0.1:" .. WS .. "/mqtt",
    {proxy = "socks5h://u:p@127.0.0.1:" .. SOCKS, clientidentifier = "wsx-" .. TAG})

T.run("refused proxy credentials: connect nil, 'proxyauth'; create onstatus('sock', 'proxyauth')", function()
    local m, err = mqttc.connect("127.0.0.1", print, {port = MQ, proxy = "socks5h://u:wrong@127.0.0.1:" .. SOCKS})
    T.check("connect: nil, 'proxyauth'", m == nil and err == "proxyauth", tostring(err))
    local st
    local c = mqttc.create("127.0.0.1", function(t, code) st = t .. ":" .. code return false end, nil,
        {port = MQ, proxy = "socks5h://u:wrong@127.0.0.1:" .. SOCKS})
    T.pump(c, function() return st ~= nil end, 10)
    T.eq("create: onstatus", "sock:proxyauth", st)
    c:close()
end)

T.run("a bad URL raises", function()
    local ok, err = pcall(mqttc.create, "ftp://127.0.0.1/", print)
    T.check("create('ftp://...') raises", not ok and tostring(err):find("bad argument #1 to 'create'", 1, true), err)
end)

T.finish()
