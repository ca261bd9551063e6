-- wrk script: POSTs pre-signed webhook bodies (bench/gen_bodies.py), each thread its own
-- slice so every mid is sent once while the file lasts. A line is "<sha256 sig>\t<body>", or
-- "<sha256 sig>\tsha1=<hex>\t<body>" (bench/peers/sign_sha1.py): then X-Hub-Signature goes
-- too, as Facebook sends it beside X-Hub-Signature-256 (the Node peers check only that one).
-- With BENCH_RATE (requests/s over all BENCH_CONNS connections) each connection waits
-- between its requests so the whole load stays near that rate: latency at a given load
-- rather than at saturation.
local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
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
  local conns = tonumber(os.getenv("BENCH_CONNS") or "32")
  pause = 0
  if rate > 0 then pause = math.floor(conns * 1000 / rate + 0.5) end
end

function delay()
  return pause
end

function request()
  idx = idx + 1
  if idx > #reqs then idx = 1 end
  return reqs[idx]
end
