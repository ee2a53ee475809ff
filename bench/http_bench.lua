-- wrk script for bench/http_bench.sh: GET /search cycling through a file of
-- URL-encoded queries (one per line; argument after --), each thread
-- starting at a different line; done() prints one JSON line of results.
local paths = {}
local counter = 0
local next_id = 0

function setup(thread)
    thread:set("id", next_id)
    next_id = next_id + 1
end

function init(args)
    local f = assert(io.open(args[1], "r"))
    for line in f:lines() do
        if #line > 0 then
            paths[#paths + 1] = "/search?limit=10&q=" .. line
        end
    end
    f:close()
    assert(#paths > 0, "no queries in " .. args[1])
    counter = (id or 0) * math.floor(#paths / 4)
end

function request()
    counter = counter + 1
    return wrk.format("GET", paths[(counter % #paths) + 1])
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        '{"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
        summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        e.connect, e.read, e.write, e.status, e.timeout))
end
