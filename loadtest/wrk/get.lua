-- GET one path with Basic auth: wrk -s get.lua URL -- <user:password>
local auth = nil
function init(args)
  if args[1] then auth = "Basic " .. args[1] end
end
function request()
  local headers = {}
  if auth then headers["Authorization"] = auth end
  return wrk.format("GET", nil, headers)
end
