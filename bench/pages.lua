-- The wrk script of `python -m bench.pages` (bench/pages.py writes the targets, runs wrk, reads
-- the last line). Each request takes the next target of a file of "path<TAB>cookie" lines, so
-- the signed-in officers take turns; every thread counts the answers per HTTP status, and
-- done() adds the threads' counts up and prints one line: "HOSO_WRK {json}".

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_number", #threads)
end

function init(args)
   targets = {}
   for line in io.lines(args[1]) do
      local path, cookie = line:match("^([^\t]+)\t(.*)$")
      if path then
         local headers = {}
         if cookie ~= "" then
            headers["Cookie"] = cookie
         end
         -- built once: request() only picks one
         table.insert(targets, wrk.format("GET", path, headers))
      end
   end
   if #targets == 0 then
      error("no target in " .. tostring(args[1]))
   end
   -- the threads start at different targets, so every officer is busy from the first second
   position = (thread_number - 1) % #targets
   statuses = {}
end

function request()
   position = position % #targets + 1
   return targets[position]
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local counts = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         counts[status] = (counts[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(counts) do
      table.insert(parts, string.format('"%d": %d', status, count))
   end
   local errors = summary.errors
   io.write(string.format(
      'HOSO_WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"statuses": {%s}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
      latency:percentile(99), latency.max, errors.connect, errors.read, errors.write, errors.timeout,
      table.concat(parts, ", ")))
end
