-- wrk script for benches/load/search_load.py: every connection sends the
-- session cookie and walks the request list (one path per line, or
-- "POST path body" for a creation), from its own starting point.
-- The done() hook prints one JSON line the driver reads.

local paths = {}
local counter = 0
local threads = 0
local all_threads = {}

-- Each thread its own random sequence (wrk's threads would otherwise draw
-- the same names, and the second creation of a person is a look-alike).
function setup(thread)
  threads = threads + 1
  table.insert(all_threads, thread)
  thread:set("id", threads)
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  file:close()
  wrk.headers["Cookie"] = args[2]
  math.randomseed(os.time() * 100 + (id or 0))
  -- Spread the connections of this thread over the list.
  counter = math.random(#paths)
end

local consonants = "BCDFGHJKLMNPRSTVZ"
local vowels = "AEIOU"

local function word(syllables)
  local t = {}
  for _ = 1, syllables do
    local c, v = math.random(#consonants), math.random(#vowels)
    t[#t + 1] = consonants:sub(c, c) .. vowels:sub(v, v)
  end
  return table.concat(t)
end

local function form(body)
  -- A creation: names and birth date drawn per request (letters only, as
  -- a name must be), so that the duplicate check rarely finds a look-alike:
  -- a real reception mostly creates new people.
  body = body:gsub("@@", function() return word(4) end)
  body = body:gsub("@F", function() return word(3) end)
  body = body:gsub("@D", function()
    return string.format("%d-%02d-%02d", math.random(1940, 2006), math.random(1, 12),
      math.random(1, 28))
  end)
  return body
end

function request()
  counter = counter % #paths + 1
  local line = paths[counter]
  if line:sub(1, 5) == "POST " then
    local path, body = line:match("^POST (%S+) (.*)$")
    -- wrk.format takes these headers instead of wrk.headers: copy them.
    local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
    for k, v in pairs(wrk.headers) do
      headers[k] = v
    end
    return wrk.format("POST", path, headers, form(body))
  end
  return wrk.format("GET", line)
end

local bad = 0
-- A creation answered by the RNIV look-alike warning (409, « Doublon
-- possible »): Escale doing its job when a generated person resembles one
-- already there, not an error. Global: `done` reads it from each thread.
look_alikes = 0

function response(status, headers, body)
  if status == 409 and body and body:find("Doublon possible", 1, true) then
    look_alikes = look_alikes + 1
  elseif status ~= 200 and status ~= 303 then
    bad = bad + 1
    if bad <= 3 then
      io.stderr:write("unexpected status " .. status .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local warned = 0
  for _, t in ipairs(all_threads) do
    warned = warned + (t:get("look_alikes") or 0)
  end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "errors_status": %d, "errors_socket": %d, "look_alikes": %d}\n',
    summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, e.status - warned, e.connect + e.read + e.write + e.timeout, warned))
end
