-- Posts pre-built webhook requests from a file, each request once (unique events).
-- File format: one request per line: "<path>\t<signature>\t<json body>".
local requests = {}
local counter = 0
local thread_id = 0
local threads = 1

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  local path = args[1]
  threads = tonumber(args[2] or "1")
  for line in io.lines(path) do
    local p, sig, body = line:match("([^\t]*)\t([^\t]*)\t(.*)")
    requests[#requests + 1] = {p, sig, body}
  end
  counter = id
end

function request()
  local r = requests[(counter % #requests) + 1]
  counter = counter + threads
  local headers = {["Content-Type"] = "application/json"}
  if r[2] ~= "" then headers["X-Zoho-Webhook-Signature"] = r[2] end
  return wrk.format("POST", r[1], headers, r[3])
end

done = function(summary, latency, requests)
  io.write(string.format("JSON {\"requests\": %d, \"duration_us\": %d, \"non2xx\": %d, \"errors\": %d, \"p50_us\": %d, \"p99_us\": %d}\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
