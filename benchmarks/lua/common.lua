-- Shared by every benchmark script (loaded with dofile from the script's directory).
--
-- Each wrk thread has its own Lua state: it counts response statuses (and any
-- named counters a script adds) in its own tables; done() runs in the main
-- state, sums them over the threads and prints one line:
--   BENCH_JSON {"requests": ..., "duration_s": ..., "latency_ms": {...}, ...}
-- which benchmarks/run.py reads.

local threads = {}
statuses = {}   -- per thread: status code -> responses
counters = {}   -- per thread: name -> count (e.g. flows)
tid = 0         -- set per thread by setup()

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

function count_status(status)
   statuses[status] = (statuses[status] or 0) + 1
end

function bump(name)
   counters[name] = (counters[name] or 0) + 1
end

-- Script arguments (after "--" on the wrk command line) as key=value pairs.
function parse_args(args)
   local options = {}
   for _, arg in ipairs(args or {}) do
      local key, value = arg:match("^([%w_]+)=(.*)$")
      if key then options[key] = value end
   end
   return options
end

-- Numbers "<prefix><7 digits>": thread `tid` uses base + tid * span + 0 .. span - 1,
-- so threads never collide; run.py moves base on between runs against one server.
function number_source(options)
   local prefix = options.prefix
   local first = tonumber(options.base) + tid * tonumber(options.span)
   local span, used = tonumber(options.span), 0
   return function()
      if used >= span then
         bump("exhausted")  -- run.py reports it: numbers would repeat from here
         used = 0
      end
      local n = string.format("%s%07d", prefix, first + used)
      used = used + 1
      return n
   end
end

local function encode(value)
   local kind = type(value)
   if kind == "table" then
      local parts = {}
      for k, v in pairs(value) do
         table.insert(parts, string.format("%q:%s", tostring(k), encode(v)))
      end
      return "{" .. table.concat(parts, ",") .. "}"
   elseif kind == "string" then
      return string.format("%q", value)
   elseif kind == "number" then
      return string.format("%.10g", value)
   elseif kind == "boolean" then
      return tostring(value)
   end
   return "null"
end

function done(summary, latency, requests)
   local status, extra = {}, {}
   for _, thread in ipairs(threads) do
      for code, n in pairs(thread:get("statuses") or {}) do
         status[tostring(code)] = (status[tostring(code)] or 0) + n
      end
      for name, n in pairs(thread:get("counters") or {}) do
         extra[name] = (extra[name] or 0) + n
      end
   end
   local percentiles = {}
   for _, p in ipairs({50, 90, 99, 99.9}) do
      percentiles[tostring(p)] = latency:percentile(p) / 1000
   end
   local e = summary.errors
   io.write("BENCH_JSON ", encode({
      requests = summary.requests,
      duration_s = summary.duration / 1e6,
      bytes = summary.bytes,
      latency_ms = {p = percentiles, mean = latency.mean / 1000, max = latency.max / 1000},
      socket_errors = {connect = e.connect, read = e.read, write = e.write, timeout = e.timeout},
      status = status,
      counters = extra,
      threads = #threads,
   }), "\n")
end
