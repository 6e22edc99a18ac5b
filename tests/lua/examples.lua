-- tests/lua/examples.lua - the seed's examples 1 to 4 (shared/seed/mqtt-client.txt), their
-- code as written, against the broker on BROKER_PORT (and with WITH_TLS=1 example 3 and a
-- TLS example 4 against the TLS mosquitto on TLS_PORT). What changed, and only where BAS calls
-- have no stock-Lua meaning or the test's brokers need it, is marked "ADAPTED".
package.path = arg[0]:gsub("[^/]+$", "") .. "?.lua;" .. package.path
local T = require"testlib"
local cqueues = require"cqueues"
local PORT = T.port("BROKER_PORT")
local NAME = T.env("BROKER_NAME")
local WITH_TLS = os.getenv("WITH_TLS") == "1"

-- Stand-ins for BAS: trace() records; the line the test waits for ends the example by
-- raising DONE (the examples run until their connection ends; this is how the test stops
-- one from outside). ba.socket.event and ba.thread.run start a cqueues coroutine (cosocket).
local traced, expect = {}, nil
local DONE = setmetatable({}, {__tostring = function() return "DONE" end})
local cq = cqueues.new()
function trace(...) -- luacheck: ignore (global, as in BAS)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    local line = table.concat(parts, " ")
    traced[#traced + 1] = line
    if expect and line == expect then error(DONE, 0) end
end
local function saw(line)
    for _, l in ipairs(traced) do if l == line then return true end end
    return false
end
local ba = {socket = {}, thread = {}}
function ba.socket.event(f) cq:wrap(f) end
local restarts = 0
function ba.thread.run(f)
    if restarts == 0 and not ba.started then ba.started = true; return cq:wrap(f) end
    restarts = restarts + 1 -- the example asks to restart: the test counts it and stops
end

-- a helper client publishing in a cqueues coroutine until `stop()` (cosocket mode too)
local function publisher(topic, msg, stop, op)
    cq:wrap(function()
        op = op or {}
        op.port = op.port or PORT
        local p = assert(require"mqttc".connect(op.host or "127.0.0.1", function() end, op))
        while not stop() do
            assert(p:publish(topic, msg))
            cqueues.sleep(0.05)
        end
        p:close()
    end)
end

-- ---------------------------------------------------------------------------------------
-- Example 1: creating and running an MQTT client (blocking mode).
local function onpub(topic,msg) -- publish callback function
   trace("onpub",topic, msg) -- Print topic and payload data
end

local function connectAndRun(brokername)
   local mqttmodule = require"mqttc" -- Load MQTT Client
   local mqtt,err = mqttmodule.connect(brokername, onpub, {port = PORT}) -- ADAPTED: the test broker's port
   if mqtt then
      mqtt:subscribe("#") -- Subscribe to all topics
      mqtt:run() -- Does not return unless the connection disconnects
   end
end
-- ---------------------------------------------------------------------------------------

T.run("example 1", function()
    -- a retained message waits for the subscription to "#"
    local helper = T.client(PORT)
    assert(helper:publish("ex1/" .. NAME, "hello from example 1", {retain = true, qos = 1}))
    helper:close()
    expect = "onpub ex1/" .. NAME .. " hello from example 1"
    local ok, err = pcall(connectAndRun, "127.0.0.1")
    T.check("example 1: connect, subscribe(\"#\"), run() delivers to onpub", err == DONE, tostring(err))
    local m2 = T.client(PORT)
    assert(m2:publish("ex1/" .. NAME, "", {retain = true, qos = 1})) -- clear it
    m2:close()
end)

T.run("example 2", function()
    -- Example 2: starting example 1 in cosocket mode.
    local brokername = "127.0.0.1"
    ba.socket.event(function() connectAndRun(brokername) end)
    -- meanwhile another coroutine publishes (the client's run() waits without blocking it)
    expect = "onpub ex2/" .. NAME .. " hello from another coroutine"
    publisher("ex2/" .. NAME, "hello from another coroutine", function() return saw(expect) end)
    local ok, err = cq:loop(10)
    T.check("example 2: cosocket mode: another coroutine's message reaches onpub", err == DONE, tostring(err))
    cq = cqueues.new() -- the one above stopped at DONE
end)

-- Example 4: connecting via a socket the script opened (the seed's SOCKS5 proxy example).
local socket = require"socket"
local function example4(tls)
    local function initiateMQTT()
       -- ADAPTED: BAS's HTTP client opens the proxy connection in the seed; here the script
       -- connects the socket itself (LuaSocket), as a proxy library would hand it over.
       local s = socket.connect("127.0.0.1", tls and T.port("TLS_PORT") or PORT)
       local status = s and "prxready" or "connect failed"
       if status == "prxready" then -- If connection ready
          -- socket is now connected to broker, but broker uses TLS.
          -- ADAPTED: s:upgrade(ba.sharkclient()) is BAS's; op.secure runs the handshake over s
          local ok = true
          if ok then
             -- MQTT broker settings
             local op = {
                uname = "my-broker-username",
                passwd = "my-broker-password",
                id = "my-mqtt-id"
             }
             if tls then -- ADAPTED: TLS over s, checked against the test CA for this name
                op.secure, op.cafile, op.servername = true, T.env("CERTS") .. "/ca.crt", "localhost"
             end
             local function callback(topic, message)
                trace(topic,message)
             end
             local mqtt = require("mqttc").connect(s, callback, op)
             mqtt:subscribe"my-topic"
             local function run()
                trace"Starting MQTT loop"
                mqtt:run()
                trace"MQTT socket closed. Restarting..."
                ba.thread.run(initiateMQTT)
             end
             cq:wrap(run) -- ADAPTED: mqtt.sock:event(run, "s") is BAS's cosocket; cqueues here
          else
             trace("TLS upgrade failed",err)
          end
       else
          trace("Err:",status)
       end
    end

    -- HTTP client lib is blocking: run connection sequence in separate thread
    ba.thread.run(initiateMQTT)
end

local function run_example4(tls)
    traced, expect, restarts, ba.started = {}, nil, 0, false
    cq = cqueues.new()
    example4(tls)
    local label = tls and "example 4 over TLS" or "example 4"
    local port = tls and T.port("TLS_PORT") or PORT
    local tlsop = tls and {secure = true, cafile = T.env("CERTS") .. "/ca.crt", host = "localhost"} or {}
    -- the broker's side of the story: a message for my-topic, then another client takes the
    -- id "my-mqtt-id" over, which ends the example's connection
    cq:wrap(function()
        while not saw("Starting MQTT loop") do cqueues.sleep(0.02) end
        local pub = {port = port, secure = tlsop.secure, cafile = tlsop.cafile}
        publisher("my-topic", "hello " .. label, function() return saw("my-topic hello " .. label) end, pub)
        while not saw("my-topic hello " .. label) do cqueues.sleep(0.02) end
        local thief = assert(require"mqttc".connect(tlsop.host or "127.0.0.1", function() end,
            {port = port, id = "my-mqtt-id", secure = tlsop.secure, cafile = tlsop.cafile}))
        while not saw("MQTT socket closed. Restarting...") do cqueues.sleep(0.02) end
        thief:close()
    end)
    local ok, err = cq:loop(20)
    T.check(label .. ": runs to its end", ok, tostring(err))
    T.check(label .. ": the loop started in cosocket mode", saw("Starting MQTT loop"))
    T.check(label .. ": messages for my-topic reach the callback", saw("my-topic hello " .. label))
    T.check(label .. ": run() returns when the connection ends", saw("MQTT socket closed. Restarting..."))
    T.eq(label .. ": and the example asks to start again", 1, restarts)
end

T.run("example 4", function() run_example4(false) end)

if WITH_TLS then
    T.run("example 3", function()
        traced, expect = {}, nil
        local observer, got = T.client(T.port("TLS_PORT"), {secure = true, cafile = T.env("CERTS") .. "/ca.crt"})
        T.subscribed(observer, "whoops")
        -- Example 3: connecting to a secure broker.
        local mqtt,err = require"mqttc".connect("localhost", onpub, { -- ADAPTED: our broker's name
           secure=true,
           port = T.port("TLS_PORT"), -- ADAPTED: the test broker's port
           cafile = T.env("CERTS") .. "/ca.crt", -- ADAPTED: the test CA (not in the system store)
           keepalive = 5*60, -- 5 minutes
           id = "my-unique-id",
           uname = "admin",
           passwd = "qwerty",
           will = {
              topic = "whoops",
              message = "Someone unplugged my cable!"
           }
        })
        T.check("example 3: connects over TLS with credentials (trusted chain, name checked)", mqtt ~= nil, err)
        if not mqtt then return end
        mqtt:subscribe("ex3/#")
        mqtt:publish("ex3/tls", "over TLS")
        expect = "onpub ex3/tls over TLS"
        local ok, e = pcall(mqtt.run, mqtt)
        T.check("example 3: a message round trip over TLS", e == DONE, tostring(e))
        -- an unclean end (another client takes the id over): the will is published
        local thief = assert(require"mqttc".connect("localhost", function() end,
            {port = T.port("TLS_PORT"), secure = true, cafile = T.env("CERTS") .. "/ca.crt", id = "my-unique-id"}))
        expect = nil
        local ok2, why = mqtt:run()
        T.eq("example 3: taken over, run() returns closed", "closed", why)
        T.pump(observer, function() return #got >= 1 end, 10)
        T.eq("example 3: the will was published", "Someone unplugged my cable!", got[1] and got[1].msg)
        thief:close()
        observer:close()
    end)
    T.run("example 4 over TLS", function() run_example4(true) end)
end

T.finish()
