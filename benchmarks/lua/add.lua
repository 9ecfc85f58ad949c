-- POST /api/v1/customNumber/add, a different number each request.
-- wrk ... -s add.lua URL -- prefix=+6141 base=0 span=100000
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local next_number

function init(args)
   next_number = number_source(parse_args(args))
end

function request()
   return wrk.format("POST", "/api/v1/customNumber/add", nil,
                     '{"name":"bench","number":"' .. next_number() .. '"}')
end

function response(status, _headers, _body)
   count_status(status)
end
