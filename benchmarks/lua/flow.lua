-- The add -> verify flow on an OTP account whose numbers all get the code 111111.
--
-- Per-thread state: request() verifies a number whose add succeeded, if there is
-- one, else adds a new number; response() queues the number whose add succeeded.
-- wrk's response() is not told which request it answers, so this script needs
-- one connection per thread (run.py runs it with -t equal to -c): then every
-- response answers the thread's previous request, and a verify can never race
-- its add. A flow is one add plus one verify; counters: adds_ok, flows.
--
-- keys=K1,K2,...: thread i sends as account key K(i mod n) (default: the
-- Authorization header of the command line), so that one account's OTP sends in
-- the last hour, which the OTP limits look at, stay as few as a real customer's.
-- wrk ... -s flow.lua URL -- prefix=+6142 base=0 span=100000 otp=111111 [keys=...]
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local next_number, otp, headers
local queue, head, tail = {}, 1, 0
local sent_kind, sent_number

function init(args)
   local options = parse_args(args)
   next_number = number_source(options)
   otp = options.otp or "111111"
   if options.keys then
      local keys = {}
      for key in options.keys:gmatch("[^,]+") do table.insert(keys, key) end
      headers = {["Authorization"] = "Bearer " .. keys[tid % #keys + 1],
                 ["Content-Type"] = "application/json"}
   end
end

function request()
   if head <= tail then
      sent_kind, sent_number = "verify", queue[head]
      queue[head] = nil
      head = head + 1
      return wrk.format("POST", "/api/v1/customNumber/verifyCustomNumber", headers,
                        '{"name":"bench","number":"' .. sent_number .. '","otp":"' .. otp .. '"}')
   end
   sent_kind, sent_number = "add", next_number()
   return wrk.format("POST", "/api/v1/customNumber/add", headers,
                     '{"name":"bench","number":"' .. sent_number .. '"}')
end

function response(status, _headers, _body)
   count_status(status)
   if status ~= 200 then return end
   if sent_kind == "add" then
      bump("adds_ok")
      tail = tail + 1
      queue[tail] = sent_number
   else
      bump("flows")
   end
end
