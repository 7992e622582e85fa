-- wrk script for bench/relay.py: POST pre-signed, unique webhook deliveries to /webhook.
--
-- wrk -t2 -c64 -d15s --latency -s bench/relay_wrk.lua http://127.0.0.1:P/webhook -- FILE THREADS
--
-- FILE has one delivery a line: webhook-id TAB webhook-timestamp TAB webhook-signature TAB body.
-- Thread k of THREADS keeps lines k, k+THREADS, k+2*THREADS, ... (pre-formatted in init,
-- so request() only indexes a table) and sends each once; only when its share runs out
-- does it start over, and every such repeat is counted and reported. Statuses other than
-- 200 are counted per status. done() prints one line for bench/relay.py to parse:
-- RELAYBENCH requests=.. non200=.. repeats=.. lines=.. p50_us=.. p99_us=.. statuses=S:N,S:N

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   local file = args[1]
   local nthreads = tonumber(args[2] or "1")
   if file == nil then
      error("usage: wrk ... -s relay_wrk.lua URL -- FILE THREADS")
   end
   reqs = {}
   lines = 0
   local index = 0
   for line in io.lines(file) do
      if index % nthreads == id then
         local wid, ts, sig, body = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.+)$")
         if wid == nil then
            error("malformed line " .. (index + 1) .. " in " .. file)
         end
         lines = lines + 1
         reqs[lines] = wrk.format("POST", wrk.path, {
            ["Content-Type"] = "application/json",
            ["webhook-id"] = wid,
            ["webhook-timestamp"] = ts,
            ["webhook-signature"] = sig,
         }, body)
      end
      index = index + 1
   end
   if lines == 0 then
      error("no deliveries for thread " .. id .. " in " .. file)
   end
   pos = 0
   sent = 0
   non200 = 0
   statuses = {}
end

function request()
   pos = pos + 1
   if pos > lines then
      pos = 1
   end
   sent = sent + 1
   return reqs[pos]
end

function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
      statuses[status] = (statuses[status] or 0) + 1
   end
end

function done(summary, latency, requests)
   local non200_total, repeats, total_lines = 0, 0, 0
   local by_status = {}
   for _, thread in ipairs(threads) do
      non200_total = non200_total + thread:get("non200")
      local thread_sent, thread_lines = thread:get("sent"), thread:get("lines")
      total_lines = total_lines + thread_lines
      if thread_sent > thread_lines then
         repeats = repeats + (thread_sent - thread_lines)
      end
      for status, count in pairs(thread:get("statuses")) do
         by_status[status] = (by_status[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(by_status) do
      table.insert(parts, status .. ":" .. count)
   end
   io.write(string.format(
      "RELAYBENCH requests=%d non200=%d repeats=%d lines=%d p50_us=%.0f p99_us=%.0f statuses=%s\n",
      summary.requests, non200_total, repeats, total_lines,
      latency:percentile(50.0), latency:percentile(99.0), table.concat(parts, ",")))
end
