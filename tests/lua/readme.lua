-- tests/lua/readme.lua MARKDOWN - runs every ```lua block of the "## Lua" section of
-- MARKDOWN (README.md) against the broker on BROKER_PORT: 1883 becomes that port, which is
-- the only edit. Each block must exit 0 and print what its "--> ..." comments say.
package.path = arg[0]:gsub("[^/]+$", "") .. "?.lua;" .. package.path
local T = require"testlib"
local PORT = T.port("BROKER_PORT")

local text, origin
local f = io.open(arg[1] or "README.md")
if f then text = f:read("*a"); f:close() end
local section = text and text:match("\n## Lua\n(.-)\n## ") or text and text:match("\n## Lua\n(.*)$")
origin = "README.md"
T.check("README.md has a \"## Lua\" section", section ~= nil)
section = section or ""

local blocks = {}
for block in section:gmatch("```lua\n(.-)```") do blocks[#blocks + 1] = block end
T.check(origin .. ": has Lua blocks (" .. #blocks .. ")", #blocks >= 3)

local function squash(s) return (s:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")) end
for i, block in ipairs(blocks) do
    local file = os.tmpname()
    local out = assert(io.open(file, "w"))
    out:write((block:gsub("1883", tostring(PORT))))
    out:close()
    local p = assert(io.popen(T.LUA .. " " .. file .. " 2>&1; echo \"exit=$?\""))
    local output = p:read("*a")
    p:close()
    os.remove(file)
    local first = block:match("^[^\n]*")
    T.check(origin .. " block " .. i .. " (" .. first .. ") runs to its end", output:find("exit=0", 1, true), output)
    local flat = squash(output)
    for expected in block:gmatch("%-%->%s*([^\n]+)") do
        T.check("  prints \"" .. squash(expected) .. "\"", flat:find(squash(expected), 1, true), output)
    end
end
T.finish()
