-- Workload script for the embedded Lua interpreter (driver.c).
-- Everything printed is deterministic: no addresses, no time, no
-- iteration over hash tables without sorting first.

local N = tonumber(arg[1]) or 200
local out = {}
local function say(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  print(table.concat(parts, " "))
end

say("== tables ==")
local t = {}
for i = 1, N do t[i] = (i * 7919) % 1009 end
local sum, max = 0, -math.huge
for _, v in ipairs(t) do sum = sum + v; if v > max then max = v end end
say("count", #t, "sum", sum, "max", max)
local inventory = {apple = 3, pear = 7, fig = 1, plum = 12, kiwi = 5}
local names = {}
for k in pairs(inventory) do names[#names + 1] = k end
table.sort(names)
for _, k in ipairs(names) do io.write(k, "=", inventory[k], " ") end
io.write("\n")
table.insert(names, 1, "banana")
table.remove(names, 3)
say(table.concat(names, ","), table.unpack({1, 2, 3}))
say("move", table.concat(table.move({1, 2, 3, 4, 5}, 2, 4, 1, {}), ","))

say("== sorting with a comparator ==")
local people = {}
local first = {"Ada", "Brian", "Chen", "Dana", "Eve", "Farid", "Gita", "Hugo"}
for i, name in ipairs(first) do
  people[i] = {name = name, age = 20 + (i * 37) % 23, score = (i * 13) % 7}
end
table.sort(people, function(a, b)
  if a.score ~= b.score then return a.score > b.score end
  if a.age ~= b.age then return a.age < b.age end
  return a.name < b.name
end)
for _, p in ipairs(people) do say(string.format("%-6s age %2d score %d", p.name, p.age, p.score)) end
local big = {}
for i = 1, N * 10 do big[i] = (i * 2654435761) % 100003 end
table.sort(big, function(a, b) return a > b end)
say("sorted desc head", big[1], big[2], big[3], "tail", big[#big])

say("== strings ==")
local s = "The quick brown fox jumps over the lazy dog"
say(s:upper(), #s)
say(s:gsub("%w+", function(w) return w:sub(1, 1):upper() .. w:sub(2):reverse() end))
say(s:gsub("o", "0", 2))
say(string.format("%5d|%-5d|%05.1f|%x|%X|%o|%e|%g|%q", 42, 42, 3.14159, 255, 255, 8, 12345.678, 0.0001, "a\nb\"c"))
say(string.format("%10.3s|%-10s|%c%c%c", "abcdef", "left", 76, 117, 97))
for k, v in string.gmatch("alpha=1, beta=22, gamma=333", "(%a+)=(%d+)") do io.write(k, ":", v * 2, " ") end
io.write("\n")
say(string.find(s, "(%a+) (%a+)$"))
say(string.match("2024-01-15T10:20:30", "(%d+)-(%d+)-(%d+)T(%d+):(%d+)"))
say(("%s"):rep(3, "-"), ("x"):rep(0), ("ab"):rep(3))
say(string.byte("ABC", 1, -1), string.char(72, 105))
say(utf8.char(72, 228, 8364, 128512), utf8.len("häll€"))
local packed = string.pack("<i4 d s1", -7, 2.5, "hi")
say(#packed, string.unpack("<i4 d s1", packed))
local words = {}
for w in s:lower():gmatch("%a+") do words[#words + 1] = w end
table.sort(words)
say(table.concat(words, " "))
say("checksum", host.checksum(s), host.checksum(""))

say("== closures ==")
local function counter(start, step)
  local n = start
  return function() n = n + step; return n end
end
local c1, c2 = counter(0, 1), counter(100, -10)
say(c1(), c1(), c2(), c1(), c2())
local adders = {}
for i = 1, 5 do adders[i] = function(x) return x + i end end
say(adders[1](10), adders[5](10))
local function compose(f, g) return function(...) return f(g(...)) end end
local inc_then_double = compose(function(x) return x * 2 end, function(x) return x + 1 end)
say(inc_then_double(4), table.concat(host.map({1, 2, 3, 4}, inc_then_double), ","))
local function memo(f)
  local cache = {}
  return function(n)
    local v = cache[n]
    if v == nil then v = f(n); cache[n] = v end
    return v
  end
end
local fib
fib = memo(function(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end)
say("fib(80)", fib(80))

say("== coroutines ==")
local function gen(n)
  return coroutine.wrap(function()
    for i = 1, n do coroutine.yield(i * i) end
    return "done"
  end)
end
local g = gen(5)
say(g(), g(), g(), g(), g(), g())
local producer = coroutine.create(function(a, b)
  local x = coroutine.yield(a + b)
  local y, z = coroutine.yield(x * 2)
  return y + z
end)
say(coroutine.resume(producer, 1, 2))
say(coroutine.resume(producer, 10))
say(coroutine.resume(producer, 3, 4))
say(coroutine.resume(producer), coroutine.status(producer))
local ok, err = coroutine.resume(coroutine.create(function() error("inside coroutine") end))
say(ok, err)

say("== errors ==")
say(pcall(function() error({code = 42}) end) == false)
local ok2, e2 = pcall(function() error({code = 42}) end)
say(ok2, type(e2), e2.code)
say(pcall(error, "plain message", 0))
say(select(2, pcall(function() local x = nil; return x.field end)):gsub("^.-:%d+: ", ""))
say(xpcall(function() error("with handler") end, function(m) return "handled: " .. m:gsub("^.-:%d+: ", "") end))
say(pcall(string.rep))
local depth = 0
local function recurse() depth = depth + 1; return recurse() + 1 end
local okr = pcall(recurse)
say("stack overflow caught", okr == false, depth > 1000)

say("== metatables ==")
local Vec = {}
Vec.__index = Vec
function Vec.new(x, y) return setmetatable({x = x, y = y}, Vec) end
function Vec.__add(a, b) return Vec.new(a.x + b.x, a.y + b.y) end
function Vec.__mul(a, k) return Vec.new(a.x * k, a.y * k) end
function Vec.__eq(a, b) return a.x == b.x and a.y == b.y end
function Vec.__lt(a, b) return a:len2() < b:len2() end
function Vec.__tostring(v) return "(" .. v.x .. ", " .. v.y .. ")" end
function Vec.__len(v) return 2 end
function Vec:len2() return self.x * self.x + self.y * self.y end
local a, b = Vec.new(1, 2), Vec.new(3, -4)
say(tostring(a + b), tostring(a * 3), a == Vec.new(1, 2), a < b, #a)
local defaults = setmetatable({}, {__index = function(_, k) return "default-" .. k end})
say(defaults.color, rawget(defaults, "color"))
local log = {}
local proxy = setmetatable({}, {__newindex = function(t2, k, v) log[#log + 1] = k; rawset(t2, k, v) end})
proxy.one, proxy.two = 1, 2
proxy.one = 11
say(table.concat(log, ","), proxy.one)
local callable = setmetatable({}, {__call = function(_, x, y) return x .. "+" .. y end})
say(callable("left", "right"))
local closed = {}
do
  local res <close> = setmetatable({}, {__close = function() closed[#closed + 1] = "closed" end})
end
say(closed[1])

say("== integer and float math ==")
say(7 // 2, -7 // 2, 7 % 3, -7 % 3, 7.5 // 2, 2^10, 10 / 4)
say(math.maxinteger, math.mininteger, math.maxinteger + 1 == math.mininteger)
say(1 << 62, 0xff >> 4, 5 & 3, 5 | 3, 5 ~ 3, ~0)
say(math.type(1), math.type(1.0), math.type("1"), 3 == 3.0, math.tointeger(3.0))
say(string.format("%.10f %.3f %.3f", math.pi, math.sqrt(2), math.exp(1)))
say(math.floor(-3.5), math.ceil(-3.5), math.fmod(-7, 3), math.abs(-2^63), math.ult(1, -1))
say(string.format("%.6f %.6f %.6f", math.sin(1), math.cos(1), math.log(1000, 10)))
say(tostring(1e300 * 1e10), tostring(-(1e300 * 1e10)), tostring(0/0) == tostring(0/0))
say(8 // 0.0, -8 // 0.0, pcall(function() return 1 // 0 end))
say(tonumber("0x10"), tonumber("1e2"), tonumber("  12  "), tonumber("z", 36), tonumber("nope"))
local acc = 0
for i = 1, N * 100 do acc = (acc * 31 + i) % 1000000007 end
say("lcg", acc)
local fsum = 0.0
for i = 1, N do fsum = fsum + 1 / i end
say(string.format("harmonic(%d) = %.12f", N, fsum))

say("== algorithms ==")
local function sieve(n)
  local composite, primes = {}, {}
  for i = 2, n do
    if not composite[i] then
      primes[#primes + 1] = i
      for j = i * i, n, i do composite[j] = true end
    end
  end
  return primes
end
local primes = sieve(N * 50)
say("primes", #primes, primes[#primes])
local function queens(n)
  local count, cols, d1, d2 = 0, {}, {}, {}
  local function place(r)
    if r > n then count = count + 1; return end
    for c = 1, n do
      if not cols[c] and not d1[r + c] and not d2[r - c + n] then
        cols[c], d1[r + c], d2[r - c + n] = true, true, true
        place(r + 1)
        cols[c], d1[r + c], d2[r - c + n] = nil, nil, nil
      end
    end
  end
  place(1)
  return count
end
say("queens(7)", queens(7))
local function serialize(v, indent)
  indent = indent or ""
  if type(v) ~= "table" then return string.format("%q", v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(x, y) return tostring(x) < tostring(y) end)
  local lines = {"{"}
  for _, k in ipairs(keys) do
    lines[#lines + 1] = indent .. "  " .. tostring(k) .. " = " .. serialize(v[k], indent .. "  ") .. ","
  end
  lines[#lines + 1] = indent .. "}"
  return table.concat(lines, "\n")
end
say(serialize({name = "lua", version = 5.4, tags = {"fast", "small"}, nested = {deep = {n = 1}}}))
local loaded = load("return function(x) return x * " .. N .. " end")()
say("load", loaded(3))
say("gc", collectgarbage("step") ~= nil, type(collectgarbage("count")))

io.stderr:write("script finished with ", #primes, " primes\n")
return 5
