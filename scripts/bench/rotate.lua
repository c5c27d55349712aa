-- wrk -s rotate.lua URL: refresh_token grant with rotating tokens. Each request spends a token
-- from a pool and each answer puts the new refresh_token back, so every token is used exactly
-- once and every request uses a token returned by an earlier response: one chain per connection.
-- Environment: TOKENS (space-separated rotating refresh tokens; give two per connection, as wrk
-- may send a request or two more than it has connections before the first answer arrives).
-- A failed answer loses its chain; when the pool is empty the request carries an invalid token
-- and counts as an error, so lost chains show up in the error column.
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
require "report"

local pool = {}
function init(args)
  bad = 0
  -- wrk runs one Lua state per thread; with -t1 this thread owns the whole pool.
  for t in string.gmatch(os.getenv("TOKENS") or "", "%S+") do table.insert(pool, t) end
end

function request()
  local t = table.remove(pool) or "tsr_pool_exhausted"
  return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&refresh_token=" .. t)
end

function response(status, headers, body)
  count_status(status)
  local t = body and body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if t then table.insert(pool, t) elseif status == 200 then bad = bad + 1 end
end
