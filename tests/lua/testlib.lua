-- tests/lua/testlib.lua - the helpers of the Lua suites (run by tests/t_lua.sh).
-- Each suite prints "ok - name" / "not ok - name" lines and ends with "N passed, N failed"
-- (exit 1 on failure). Brokers come from the environment (ports set by t_lua.sh).
local socket = require"socket"
local T = {passed = 0, failed = 0}
local suite = (arg and arg[0] or "?"):match("([^/]+)%.lua$") or "?"

T.mqttc = require"mqttc"
T.socket = socket
T.LUA = os.getenv("LUA_BIN") or "lua5.4"

local function report(ok, name, detail)
    if ok then
        T.passed = T.passed + 1
        print("ok - " .. suite .. ": " .. name)
    else
        T.failed = T.failed + 1
        print("not ok - " .. suite .. ": " .. name .. (detail and ("\n    " .. tostring(detail)) or ""))
    end
    io.stdout:flush()
end

function T.check(name, cond, detail) report(cond and true or false, name, detail) end

function T.eq(name, expected, actual)
    local ok = expected == actual
    report(ok, name, not ok and string.format("expected %q (%s), got %q (%s)", tostring(expected),
        type(expected), tostring(actual), type(actual)) or nil)
    return ok
end

-- raises(name, expected_message, f, ...): f(...) raises exactly that message
function T.raises(name, expected, f, ...)
    local ok, err = pcall(f, ...)
    if ok then return report(false, name, "no error raised") end
    T.eq(name, expected, err)
end

-- run(name, f): a test body; an error inside is a failure, not the end of the suite
function T.run(name, f)
    local t0 = T.now()
    local ok, err = (xpcall or pcall)(f, debug and debug.traceback or nil)
    if not ok then report(false, name .. " (raised)", err) end
    if os.getenv("LUA_TEST_TIMES") then print(string.format("# %s: %.2f s", name, T.now() - t0)) end
end

function T.finish()
    print(string.format("%d passed, %d failed", T.passed, T.failed))
    os.exit(T.failed == 0 and 0 or 1, true) -- true: close the state (every __gc runs; Valgrind sees all freed)
end

function T.env(name, optional)
    local v = os.getenv(name)
    if not v and not optional then error("environment variable " .. name .. " not set (run through tests/t_lua.sh)") end
    return v
end

function T.port(name) return tonumber(T.env(name)) end

function T.now() return socket.gettime() end

-- pump(clients, done, seconds): steps the clients (socket.select as the event loop) until
-- done() is true; false when the time is up. A client that ends keeps its error in
-- T.ended[client].
T.ended = setmetatable({}, {__mode = "k"})
function T.pump(clients, done, seconds)
    if clients.step then clients = {clients} end
    local deadline = T.now() + (seconds or 10)
    while true do
        for _, c in ipairs(clients) do
            if T.ended[c] == nil then
                local ok, err = c:step()
                if not ok then T.ended[c] = err end
            end
        end
        if done() then return true end
        local left = deadline - T.now()
        if left <= 0 then return false end
        local r, w, wait = {}, {}, math.min(left, 0.5)
        for _, c in ipairs(clients) do
            local ev = T.ended[c] == nil and c:events()
            if ev and ev:find"r" then r[#r + 1] = c end
            if ev and ev:find"w" then w[#w + 1] = c end
            local t = T.ended[c] == nil and c:timeout()
            if t and t < wait then wait = t end
        end
        socket.select(r, w, wait)
    end
end

-- A client on the test broker; onpub collects into the returned list unless given.
function T.client(port, op, onpub)
    local got = {}
    op = op or {}
    op.port = op.port or port
    local c, err = T.mqttc.connect("127.0.0.1", onpub or function(topic, msg, qos, retain, dup)
        got[#got + 1] = {topic = topic, msg = msg, qos = qos, retain = retain, dup = dup}
    end, op)
    assert(c, "connect failed: " .. tostring(err))
    return c, got
end

-- subscribe and wait for the SUBACK (so a publish after it is routed)
function T.subscribed(c, filter, opts)
    local code
    assert(c:subscribe(filter, function(rc) code = rc end, opts))
    assert(T.pump(c, function() return code ~= nil end, 10), "no SUBACK for " .. filter)
    return code
end

-- A fake broker in this process (LuaSocket): the test connects a socket to it itself and
-- hands that socket to mqttc.connect, so bytes can be queued for the client beforehand.
-- Returns the client-side socket and the broker-side socket.
function T.fake_pair()
    local srv = assert(socket.bind("127.0.0.1", 0))
    local _, port = srv:getsockname()
    local c = assert(socket.tcp())
    assert(c:connect("127.0.0.1", port))
    srv:settimeout(5)
    local s = assert(srv:accept())
    srv:close()
    return c, s
end

-- fake_connect(bytes, op, onpub): mqttc.connect over a fake pair whose broker side has
-- already sent `bytes` (nil: nothing), with onpub (default: a callback that does nothing)
-- and op; returns what connect returned (the client, or nil and the error), then the
-- client-side and the broker-side sockets.
function T.fake_connect(bytes, op, onpub)
    local c, s = T.fake_pair()
    if bytes then s:send(bytes) end
    local m, err = T.mqttc.connect(c, onpub or function() end, op)
    return m, err, c, s
end

-- reads one MQTT packet from a LuaSocket (the fake broker side): type, flags, body
function T.read_packet(s, timeout)
    s:settimeout(timeout or 5)
    local h, err = s:receive(1)
    if not h then return nil, err end
    local len, mult = 0, 1
    repeat
        local b = assert(s:receive(1)):byte()
        len = len + (b % 128) * mult
        mult = mult * 128
    until b < 128
    local body = len > 0 and assert(s:receive(len)) or ""
    return math.floor(h:byte() / 16), h:byte() % 16, body
end

-- spawn(cmd): runs a shell command in the background, returns its pid
function T.spawn(cmd)
    local p = assert(io.popen(cmd .. " >/dev/null 2>&1 & echo $!"))
    local pid = p:read("*l")
    p:close()
    return assert(tonumber(pid), "no pid")
end

-- within(seconds, f, ...): runs f(...) under a watchdog: a Lua debug hook raises
-- "still running after N s" once the time is up, so a call that would wait forever in our
-- Lua loops (publish, disconnect) fails the test instead of hanging the suite. Returns
-- pcall's results and the time taken.
function T.within(seconds, f, ...)
    local deadline = T.now() + seconds
    debug.sethook(function()
        if T.now() > deadline then
            debug.sethook()
            error(("still running after %g s"):format(seconds), 0)
        end
    end, "", 1000)
    local t0 = T.now()
    local r = {pcall(f, ...)}
    debug.sethook()
    r.seconds = T.now() - t0
    return r
end

-- spawn_to(cmd, file): runs a command in the background, its output into file; its pid
function T.spawn_to(cmd, file)
    local p = assert(io.popen(cmd .. " >" .. file .. " 2>&1 & echo $!"))
    local pid = p:read("*l")
    p:close()
    return assert(tonumber(pid), "no pid")
end

function T.read_file(file)
    local f = io.open(file)
    if not f then return "" end
    local s = f:read("*a")
    f:close()
    return s
end

-- A mosquitto_sub -q 2 -v on prefix/# (an outside counter of what the broker delivers),
-- subscribed when this returns: a helper publishes prefix/ready until it shows up.
-- :count(sub) counts the lines "prefix/sub ..."; :wait(sub, n, quiet) waits until there are
-- n of them or none came for `quiet` seconds; :stop() ends it.
function T.mosquitto_sub(port, prefix)
    local file = os.tmpname()
    -- (-W: it ends by itself even if a failing test never calls :stop())
    local pid = T.spawn_to(("exec mosquitto_sub -h 127.0.0.1 -p %d -q 2 -v -W 300 -t '%s/#'"):format(port, prefix), file)
    local sub = {file = file, pid = pid}
    function sub:count(what)
        local n = 0
        for line in T.read_file(file):gmatch("[^\n]+") do
            if line:sub(1, #prefix + #what + 2) == prefix .. "/" .. what .. " " then n = n + 1 end
        end
        return n
    end
    function sub:wait(what, n, quiet)
        local last, since = -1, T.now()
        while true do
            local c = self:count(what)
            if c >= n then return c end
            if c ~= last then last, since = c, T.now() end
            if T.now() - since > (quiet or 5) then return c end
            T.socket.sleep(0.05)
        end
    end
    function sub:stop()
        os.execute("kill " .. pid .. " 2>/dev/null")
        os.remove(file)
    end
    local helper = T.mqttc.connect("127.0.0.1", function() end, {port = port})
    local deadline = T.now() + 20
    while sub:count("ready") == 0 and T.now() < deadline do
        helper:publish(prefix .. "/ready", "?")
        T.socket.sleep(0.05)
    end
    helper:close()
    assert(sub:count("ready") > 0, "mosquitto_sub did not subscribe within 20 s")
    return sub
end

-- the same bytes every run: all 256 values, zeros included
function T.binary(n)
    local t, chunk = {}, {}
    for i = 0, 255 do chunk[#chunk + 1] = string.char((i * 7 + 3) % 256) end
    chunk = table.concat(chunk)
    for i = 1, math.floor(n / 256) do t[i] = chunk end
    return table.concat(t) .. chunk:sub(1, n % 256)
end

return T
