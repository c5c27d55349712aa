-- Shared by the wrk scripts of scripts/bench.sh: counts non-200 responses across wrk's threads
-- and prints one machine-readable RESULT line (requests/s, p50, p99, errors).
local threads = {}
function setup(thread) table.insert(threads, thread) end

function count_status(status)
  if status ~= 200 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local non200 = 0
  for _, t in ipairs(threads) do non200 = non200 + (t:get("bad") or 0) end
  local e = summary.errors
  local sock = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f non200=%d sockerr=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, non200, sock))
end
