-- wrk -s post.lua URL: the same form POST on every request.
-- Environment: BODY (form body), AUTHORIZATION (optional header value, e.g. "Basic ...").
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
require "report"

wrk.method = "POST"
wrk.body = os.getenv("BODY") or ""
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local auth = os.getenv("AUTHORIZATION")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end

function init(args) bad = 0 end
function response(status, headers, body) count_status(status) end
