-- Replays a request list written up front by bench/workload.ts, one request per line:
-- METHOD <tab> PATH <tab> BEARER TOKEN <tab> JSON BODY (empty fields allowed).
-- Usage: wrk -t1 ... -s bench/wrk.lua URL -- LIST_FILE START_OFFSET
local reqs = {}
local n = 0
local i = 0

function init(args)
  local file = args[1]
  local offset = tonumber(args[2] or "0") or 0
  for line in io.lines(file) do
    local method, path, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if method ~= nil and method ~= "" then
      local headers = {}
      if token ~= "" then headers["Authorization"] = "Bearer " .. token end
      if body ~= "" then headers["Content-Type"] = "application/json" else body = nil end
      n = n + 1
      reqs[n] = wrk.format(method, path, headers, body)
    end
  end
  if n == 0 then error("no requests in " .. file) end
  i = offset % n
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

-- One machine-readable line for the runner; latencies in microseconds.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"durationUs":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"p50Us":%d,"p99Us":%d,"meanUs":%.1f,"maxUs":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
