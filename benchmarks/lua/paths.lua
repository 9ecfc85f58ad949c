-- GETs that rotate over a list of paths (the message list: newest page, by to, by
-- customString); each thread starts at its own place in the list.
-- wrk ... -s paths.lua URL -- paths=/a?x=1,/b?y=2
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local paths, at = {}, 0

function init(args)
   for path in string.gmatch(parse_args(args).paths or "", "[^,]+") do
      table.insert(paths, path)
   end
   at = tid
end

function request()
   at = at + 1
   return wrk.format("GET", paths[(at % #paths) + 1])
end

function response(status, _headers, _body)
   count_status(status)
end
