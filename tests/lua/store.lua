-- tests/lua/store.lua - opt.store (mqttc.h section 13: the file store) for connect and
-- create: QoS 1/2 publishes taken while the broker is away are kept on disk; the client is
-- closed without ever sending them (as a crash would leave them); a new client with the same
-- id and store sends them, each once, to mosquitto (BROKER_PORT), where mosquitto_sub counts.
package.path = arg[0]:gsub("[^/]+$", "") .. "?.lua;" .. package.path
local T = require"testlib"
local mqttc = T.mqttc
local MQ = T.port("BROKER_PORT")
local TAG = (os.getenv("LUA_BIN") or "lua") .. "-" .. tostring(os.time() % 100000) .. "-" .. tostring(math.random(1000))
local DIR = os.tmpname()
os.remove(DIR) -- (a name for the store's directory)

T.run("opt.store: arguments", function()
    T.raises("create: opt.store without clientidentifier", "opt.store: needs opt.clientidentifier (the store is kept per client id)",
             mqttc.create, "127.0.0.1", function() end, nil, {store = DIR})
    T.raises("connect: opt.store without opt.id", "opt.store: needs opt.id (the store is kept per client id)", mqttc.connect, "127.0.0.1",
             function() end, {port = MQ, store = DIR})
end)

T.run("create: what the store kept goes on the next run", function()
    local sub = T.mosquitto_sub(MQ, "st" .. TAG)
    local id = "lst" .. TAG
    -- the broker "away": a port nobody listens on; publishes are queued (and stored)
    local dead = mqttc.create("127.0.0.1", function() return false end, nil,
                              {clientidentifier = id, store = DIR, port = 1})
    for i = 1, 3 do T.eq("queued while offline " .. i, false, dead:publish("st" .. TAG .. "/c", "m" .. i, {qos = 2})) end
    T.eq("three held", 3, (dead:status()))
    dead:close() -- never sent: the store keeps them
    local got
    local m = mqttc.create("127.0.0.1", function(t, c, s) if c == "connect" then got = s end return false end, nil,
                           {clientidentifier = id, store = DIR, port = MQ}, {sessionexpiryinterval = 60})
    T.eq("the next run holds them from the store", 3, (m:status()))
    T.pump(m, function() return got ~= nil and sub:count("c") >= 3 end, 10)
    T.eq("all three sent", 0, (m:status()))
    T.eq("each arrived once", 3, sub:wait("c", 3, 2))
    m:close()
    sub:stop()
end)

T.run("connect: the seed API with opt.store", function()
    local sub = T.mosquitto_sub(MQ, "sd" .. TAG)
    local id = "lsd" .. TAG
    local m = assert(mqttc.connect("127.0.0.1", function() end, {port = MQ, id = id, clean = false, store = DIR}))
    assert(m:publish("sd" .. TAG .. "/x", "one", {qos = 1}))
    T.pump(m, function() return sub:count("x") >= 1 end, 10)
    T.eq("published through the store", 1, sub:count("x"))
    m:close()
    sub:stop()
end)

os.execute("rm -rf '" .. DIR .. "'")
T.finish()
