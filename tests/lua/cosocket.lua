-- tests/lua/cosocket.lua - cosocket mode under cqueues: run() and connect() yield inside a
-- cqueues coroutine while other coroutines publish, subscribe, unsubscribe and disconnect
-- on the same client; an idle client costs no CPU.
package.path = arg[0]:gsub("[^/]+$", "") .. "?.lua;" .. package.path
local T = require"testlib"
local cqueues = require"cqueues"
local mqttc, socket = T.mqttc, T.socket
local PORT = T.port("BROKER_PORT")
local N = 50

T.run("run, publish, unsubscribe", function()
    local cq = cqueues.new()
    local data, other, events = {}, {}, {}
    local m, run_result, run_ended_at, disconnect_at, idle_cpu
    cq:wrap(function()
        m = assert(mqttc.connect("127.0.0.1", function(topic, msg) data[#data + 1] = msg end, {port = PORT}))
        m:subscribe("cq/data", function(rc) events[#events + 1] = "suback data" end, {qos = 1})
        m:subscribe("cq/other", function(rc) events[#events + 1] = "suback other" end,
            {onpub = function(topic, msg) other[#other + 1] = msg end})
        -- 1: the loop
        cq:wrap(function()
            run_result = {m:run()}
            run_ended_at = cqueues.monotime()
        end)
        -- 2: a publisher, every 10 ms, on the same client
        cq:wrap(function()
            while #events < 2 do cqueues.sleep(0.01) end
            for i = 1, N do
                assert(m:publish("cq/data", tostring(i), {qos = i % 3}))
                cqueues.sleep(0.01)
            end
        end)
        -- 3: unsubscribes cq/other meanwhile, then proves it is gone
        cq:wrap(function()
            while #events < 2 do cqueues.sleep(0.01) end
            assert(m:publish("cq/other", "before"))
            while #other < 1 do cqueues.sleep(0.01) end
            local unsubacked = false
            assert(m:unsubscribe("cq/other", function() unsubacked = true end))
            while not unsubacked do cqueues.sleep(0.01) end
            events[#events + 1] = "unsuback other"
            assert(m:publish("cq/other", "after"))
        end)
        -- 4: waits for everything, measures an idle second, disconnects
        cq:wrap(function()
            local deadline = cqueues.monotime() + 30
            while #data < N and cqueues.monotime() < deadline do cqueues.sleep(0.05) end
            cqueues.sleep(0.2) -- "after" on cq/other would have arrived by now
            local c0 = os.clock()
            cqueues.sleep(0.5)
            idle_cpu = os.clock() - c0
            disconnect_at = cqueues.monotime()
            m:disconnect()
        end)
    end)
    local ok, err = cq:loop(60)
    T.check("the cqueues loop ends without error", ok, tostring(err))
    T.eq("all " .. N .. " messages published every 10 ms by another coroutine arrive", N, #data)
    -- QoS 0, 1 and 2 mixed: MQTT orders messages per QoS level only, so check each came once
    local seen, once = {}, true
    for _, d in ipairs(data) do once = once and not seen[d]; seen[d] = true end
    for i = 1, N do once = once and seen[tostring(i)] end
    T.check("  each exactly once", once)
    T.eq("the per-filter handler got the message before the unsubscribe", "before", other[1])
    T.eq("  and nothing after the UNSUBACK", 1, #other)
    T.check("SUBACK and UNSUBACK callbacks ran", table.concat(events, ","):find("unsuback other", 1, true), table.concat(events, ","))
    T.eq("disconnect() from another coroutine ends run()", "disconnect", run_result and run_result[2])
    T.check("  at once (keepalive is 600 s; measured " .. string.format("%.3f", (run_ended_at or 0) - (disconnect_at or 0)) .. " s)",
        run_ended_at and run_ended_at - disconnect_at < 1)
    T.check("half an idle second in run() costs near zero CPU (measured " .. string.format("%.4f", idle_cpu or -1) .. " s)",
        idle_cpu and idle_cpu < 0.025)
end)

T.run("connect yields", function()
    local cq = cqueues.new()
    local srv = assert(socket.bind("127.0.0.1", 0)) -- listens, never answers
    local port = tonumber((select(2, srv:getsockname())))
    local ticks, result = 0, nil
    cq:wrap(function()
        result = {mqttc.connect("127.0.0.1", function() end, {port = port, timeout = 0.5})}
    end)
    cq:wrap(function()
        while not result do
            ticks = ticks + 1
            cqueues.sleep(0.05)
        end
    end)
    local ok, err = cq:loop(10)
    T.check("loop ok", ok, tostring(err))
    T.eq("connect() inside a coroutine: times out as it should", "timeout", result and result[2])
    T.check("  while another coroutine kept running (" .. ticks .. " ticks of 50 ms)", ticks >= 5)
    srv:close()
end)

T.run("busy publisher and two clients", function()
    local cq = cqueues.new()
    local got, a, b = {}, nil, nil
    local big = T.binary(200 * 1024)
    local results = {}
    cq:wrap(function()
        a = assert(mqttc.connect("127.0.0.1", function(topic, msg) got[#got + 1] = msg end, {port = PORT}))
        b = assert(mqttc.connect("127.0.0.1", function() end, {port = PORT}))
        local suback
        a:subscribe("cq/big", function() suback = true end)
        cq:wrap(function() results.a = {a:run()} end)
        cq:wrap(function() results.b = {b:run()} end)
        while not suback do cqueues.sleep(0.01) end
        -- 20 x 200 KiB from b, faster than the socket takes them: publish waits (yielding)
        local all = true
        for i = 1, 20 do all = b:publish("cq/big", big) and all end
        results.published = all
        while #got < 20 do cqueues.sleep(0.02) end
        a:close() -- close() from another coroutine ends that run() too
        b:disconnect()
    end)
    local ok, err = cq:loop(60)
    T.check("loop ok", ok, tostring(err))
    T.check("20 publishes of 200 KiB in a row return true (waiting for the socket)", results.published)
    local intact = #got == 20
    for _, g in ipairs(got) do intact = intact and g == big end
    T.check("  all arrive intact at the other client", intact, #got)
    T.eq("close() from another coroutine: that run() returns disconnect", "disconnect", results.a and results.a[2])
    T.eq("disconnect(): the other run() returns disconnect", "disconnect", results.b and results.b[2])
end)

T.run("disconnect drains in a coroutine", function()
    -- 50 QoS 2 publishes from one coroutine while another runs the client: publish waits
    -- for window slots and disconnect() for the last flows, both by yielding
    local cq = cqueues.new()
    local got, res = {}, {}
    cq:wrap(function()
        local sub = assert(mqttc.connect("127.0.0.1", function(topic, msg) got[#got + 1] = msg end, {port = PORT}))
        local suback
        sub:subscribe("cqd/#", function() suback = true end, {qos = 2})
        cq:wrap(function() res.sub = {sub:run()} end)
        while not suback do cqueues.sleep(0.01) end
        local m = assert(mqttc.connect("127.0.0.1", function() end, {port = PORT}))
        cq:wrap(function() res.run = {m:run()} end)
        local all = true
        for i = 1, 50 do all = m:publish("cqd/x", tostring(i), {qos = 2}) == true and all end
        res.published = all
        res.disconnect = {m:disconnect()}
        res.inflight = m:inflight()
        local deadline = cqueues.monotime() + 20
        while #got < 50 and cqueues.monotime() < deadline do cqueues.sleep(0.02) end
        sub:close()
    end)
    local ok, err = cq:loop(60)
    T.check("loop ok", ok, tostring(err))
    T.check("50 QoS 2 publishes through the window of 20 return true", res.published)
    T.eq("disconnect() right after them returns true", true, res.disconnect and res.disconnect[1])
    T.eq("  no flow left", 0, res.inflight)
    T.eq("  the run() in the other coroutine returns disconnect", "disconnect", res.run and res.run[2])
    T.eq("  all 50 arrive", 50, #got)
end)

T.finish()
