-- wrk script: POSTs pre-signed webhook bodies (bench/gen_bodies.py), each thread its own
-- slice so every mid is sent once while the file lasts. A line is "<sha256 sig>\t<body>", or
-- "<sha256 sig>\tsha1=<hex>\t<body>" (bench/peers/sign_sha1.py): then X-Hub-Signature goes
-- too, as Facebook sends it beside X-Hub-Signature-256 (the Node peers check only that one).
-- With BENCH_RATE (requests/s over all of wrk's threads and connections) the requests keep to that
-- rate: latency at a given load rather than at saturation. Each thread gives its requests
-- slots on a fixed schedule (its share of the rate, from its first request) and each request
-- waits for its slot; one whose slot has passed goes at once. A fixed pause between a
-- connection's requests instead (what this script did before) added each answer's latency
-- to the period: asked 2,853 a second, it sent 1,897 when answers took 5 ms.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")

-- CLOCK_MONOTONIC (1 on Linux), in milliseconds.
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1000000
end

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  local started = now_ms()
  local file = os.getenv("BENCH_BODIES")
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
  local path = os.getenv("BENCH_PATH") or "/messenger"
  reqs = {}
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == tid - 1 then
      local sig, body = line:match("^([^\t]+)\t(.*)$")
      local headers = { ["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = sig }
      local sig1, rest = body:match("^(sha1=%x+)\t(.*)$")
      if sig1 then
        headers["X-Hub-Signature"] = sig1
        body = rest
      end
      reqs[#reqs + 1] = wrk.format("POST", path, headers, body)
    end
    i = i + 1
  end
  idx = 0
  local rate = tonumber(os.getenv("BENCH_RATE") or "0")
  interval = 0
  if rate > 0 then interval = nthreads * 1000 / rate end
  slot = nil
  -- wrk starts each thread as soon as its own init is done, and its clock only once every
  -- thread has started: a thread that began at once ran on while the next ones read their
  -- bodies (about a second each for 200,000 lines), and what it sent meanwhile counted in
  -- a duration that left that time out (a tenth more requests a second than were made).
  -- The inits take about as long each, so a thread waits for the ones after it.
  local took = now_ms() - started
  go_at = now_ms() + (nthreads - tid) * took
end

function delay()
  local now = now_ms()
  if interval == 0 then
    if now < go_at then return math.floor(go_at - now) + 1 end
    return 0
  end
  if slot == nil then slot = math.max(now, go_at) end
  local wait = slot - now
  slot = slot + interval
  if wait <= 0 then return 0 end
  return math.floor(wait)
end

function request()
  idx = idx + 1
  if idx > #reqs then idx = 1 end
  return reqs[idx]
end
