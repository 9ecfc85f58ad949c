-- django-phone-verify's register -> verify flow (the flow row's peer, benchmarks/peer_dpv).
--
-- What its client sends: POST /api/phone/register {"phone_number"} for a fresh number,
-- then POST /api/phone/verify {"phone_number", "security_code", "session_token"} with
-- the session_token of that register's answer and the code (fixed by the peer's SMS
-- backend, checked for real). As flow.lua, this needs one connection per thread
-- (run.py runs it with -t equal to -c): each response then answers the thread's
-- previous request, so each verify follows its own register. No Authorization header
-- (the endpoints are public). A flow is one register plus one verify; counters:
-- adds_ok (registers answered with a session token), flows.
-- wrk ... -s dpv_flow.lua URL -- prefix=+6142 base=0 span=100000 otp=111111
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local next_number, code
local pending_number, pending_token
local sent_kind, sent_number

function init(args)
   local options = parse_args(args)
   next_number = number_source(options)
   code = options.otp or "111111"
end

local function json_headers()
   return {["Content-Type"] = "application/json"}
end

function request()
   if pending_token then
      sent_kind = "verify"
      local body = '{"phone_number":"' .. pending_number .. '","security_code":"' .. code ..
                   '","session_token":"' .. pending_token .. '"}'
      pending_number, pending_token = nil, nil
      return wrk.format("POST", "/api/phone/verify", json_headers(), body)
   end
   sent_kind, sent_number = "register", next_number()
   return wrk.format("POST", "/api/phone/register", json_headers(),
                     '{"phone_number":"' .. sent_number .. '"}')
end

function response(status, _headers, body)
   count_status(status)
   if status ~= 200 then return end
   if sent_kind == "register" then
      local token = body and body:match('"session_token"%s*:%s*"([^"]+)"')
      if token then
         bump("adds_ok")
         pending_number, pending_token = sent_number, token
      else
         bump("no_token")
      end
   else
      bump("flows")
   end
end
