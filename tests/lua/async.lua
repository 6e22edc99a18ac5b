-- tests/lua/async.lua - asynchronous mode: an event loop of the script's own waits on
-- getfd()/events()/timeout() and calls step(), which never blocks. LuaSocket's socket.select
-- and luv (libuv) drive it here, keepalive pings included.
package.path = arg[0]:gsub("[^/]+$", "") .. "?.lua;" .. package.path
local T = require"testlib"
local mqttc, socket = T.mqttc, T.socket
local PORT = T.port("BROKER_PORT")

T.run("socket.select", function()
    local got = {}
    local m = assert(mqttc.connect("127.0.0.1", function(topic, msg) got[#got + 1] = msg end,
        {port = PORT, keepalive = 1, pingtimeout = 0.5}))
    T.eq("mqtt.sock has getfd() for socket.select", m:getfd(), m.sock:getfd())
    T.check("timeout() is at most the keepalive", m:timeout() and m:timeout() <= 1, m:timeout())
    T.eq("events() of an idle client: r", "r", m:events())
    assert(m:subscribe("as/#"))
    local t0, steps, ended, published = T.now(), 0, nil, false
    -- the loop of the reference page: select on what the client wants, then step
    while true do
        local ok, err = m:step()
        steps = steps + 1
        if not ok then ended = err; break end
        if not published and T.now() - t0 > 0.2 then
            published = true
            assert(m:publish("as/1", "via select"))
        end
        if #got >= 1 and T.now() - t0 > 1.7 then m:disconnect() end
        if T.now() - t0 > 20 then break end
        local ev = m:events() -- nil once the client has ended: step() says why
        if ev then
            socket.select(ev:find"r" and {m.sock} or {}, ev:find"w" and {m.sock} or {}, m:timeout())
        end
    end
    T.eq("a message round trip in the select loop", "via select", got[1])
    T.eq("alive through a PINGREQ/PINGRESP (keepalive 1 s, ping timeout 0.5 s: 1.7 s), then disconnect", "disconnect", ended)
    T.check("the loop slept between events (" .. steps .. " steps in 1.7 s)", steps < 200)
end)

T.run("luv", function()
    local uv = require"luv"
    local got, ended = {}, nil
    local m = assert(mqttc.connect("127.0.0.1", function(topic, msg) got[#got + 1] = msg end,
        {port = PORT, keepalive = 1, pingtimeout = 0.5}))
    -- libuv must not watch a descriptor that gets closed, and step() or disconnect() close
    -- it when the connection ends: stop the poll handle around every call, start it again
    -- with what the client wants now, and a timer for its next deadline.
    local poll, timer = uv.new_poll(m:getfd()), uv.new_timer()
    local on_event
    local function call(f, ...)
        poll:stop()
        timer:stop()
        local ok, err = f(m, ...)
        local ev, t = m:events(), m:timeout()
        if ev then poll:start(ev, on_event) end
        if t then timer:start(math.ceil(t * 1000), 0, on_event) end
        return ok, err
    end
    on_event = function()
        local ok, err = call(m.step)
        if not ok then ended = err end
    end
    call(m.subscribe, "as/luv")
    local t0 = uv.now()
    local ticker = uv.new_timer()
    ticker:start(200, 200, function()
        if #got == 0 then call(m.publish, "as/luv", "via luv") end
        if #got >= 1 and uv.now() - t0 > 1700 then
            ticker:stop()
            call(m.disconnect) -- DISCONNECT written: closed; the handles stay stopped
            on_event() -- step() tells why it ended
        end
        if uv.now() - t0 > 20000 then ticker:stop(); call(m.close) end
    end)
    uv.run()
    poll:close()
    timer:close()
    ticker:close()
    uv.run() -- let the handles close
    T.eq("a message round trip driven by luv", "via luv", got[1])
    T.eq("alive through a PINGREQ/PINGRESP under luv (1.7 s), then disconnect", "disconnect", ended)
end)

T.finish()
