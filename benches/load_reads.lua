-- wrk script of examples/load_reads.rs (read it there): one request per line of the file
-- $LOAD_READS_FILE, tab-separated: METHOD, PATH, BODY (may be empty) and, for searches, QUERY.
-- A BODY holding {{q}} gets QUERY there (QUERY is already JSON-escaped).
--   one line, no query: a static request (wrk's fast path, as in ../shared/bench/bench.sh);
--   several lines: each request picks one at random;
--   with a query: each request also writes the query's letters in random case, so that
--   (almost) no two search requests share a cache key while the database does the same work.
-- $LOAD_READS_TOKEN is sent as the bearer token. done() prints one machine-readable line.

local file = assert(os.getenv("LOAD_READS_FILE"), "set LOAD_READS_FILE")
local token = os.getenv("LOAD_READS_TOKEN") or ""

local requests = {}
for line in io.lines(file) do
  if line ~= "" then
    local method, path, body, query = line:match("^(%u+)\t([^\t]+)\t?([^\t]*)\t?(.*)$")
    assert(method, "bad line in " .. file .. ": " .. line)
    local r = { method = method, path = path }
    if body ~= "" then
      if query ~= "" then
        local at = assert(body:find("{{q}}", 1, true), "a query line needs {{q}} in its body")
        r.before, r.after, r.query = body:sub(1, at - 1), body:sub(at + 5), query
      else
        r.body = body
      end
    end
    requests[#requests + 1] = r
  end
end
assert(#requests > 0, "no requests in " .. file)

local headers = { ["Authorization"] = "Bearer " .. token }
local json_headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }

local function mixed_case(text)
  return (text:gsub("%a", function(c)
    if math.random() < 0.5 then return c:upper() end
    return c:lower()
  end))
end

local function format(r)
  if r.query then
    return wrk.format(r.method, r.path, json_headers, r.before .. mixed_case(r.query) .. r.after)
  elseif r.body then
    return wrk.format(r.method, r.path, json_headers, r.body)
  end
  return wrk.format(r.method, r.path, headers)
end

if #requests == 1 and not requests[1].query then
  local r = requests[1]
  wrk.method = r.method
  wrk.path = r.path
  wrk.headers["Authorization"] = headers["Authorization"]
  if r.body then
    wrk.body = r.body
    wrk.headers["Content-Type"] = "application/json"
  end
else
  local formatted = {}
  for i, r in ipairs(requests) do
    if not r.query then formatted[i] = format(r) end
  end

  function init(args)
    local address = tonumber(tostring({}):match("0x(%x+)") or "0", 16) or 0
    math.randomseed((os.time() + address) % 2147483647)
  end

  function request()
    local i = math.random(#requests)
    return formatted[i] or format(requests[i])
  end
end

function done(summary, latency, requests)
  io.write(string.format(
    "LOAD_READS requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
