-- The plain client of a provider peer: the same POST every time, the body read from a file.
-- wrk ... -H 'Content-Type: ...' -H 'Authorization: ...' -s peer.lua URL -- body=/path/to/body
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local body

function init(args)
   local file = assert(io.open(parse_args(args).body, "rb"))
   body = file:read("*a")
   file:close()
end

function request()
   return wrk.format("POST", nil, nil, body)
end

function response(status, _headers, _body)
   count_status(status)
end
