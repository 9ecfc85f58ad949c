-- A GET that is the same every time (token/verify, senderId/check): the URL and
-- the Authorization header come from the wrk command line.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function response(status, _headers, _body)
   count_status(status)
end
