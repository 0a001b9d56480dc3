-- POST a batch of records, rotating over users:
--   wrk -s post_batch.lua URL_PREFIX -- <auth1,auth2,...> <records> <payload text>
-- URL_PREFIX is the server root; each auth is base64("user:password") and the
-- request goes to /1.1/<user>/storage/history.  Each request rewrites the same
-- ids of its user (a client re-uploading changed records), so the data set
-- stays bounded however long the run.
local users = {}
local body = nil
local counter = 0
local function split(s)
  local out = {}
  for part in string.gmatch(s, "[^,]+") do out[#out + 1] = part end
  return out
end
local function b64decode(data)
  local b = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  data = string.gsub(data, "[^" .. b .. "=]", "")
  return (data:gsub(".", function(x)
    if x == "=" then return "" end
    local r, f = "", (b:find(x) - 1)
    for i = 6, 1, -1 do r = r .. (f % 2 ^ i - f % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end):gsub("%d%d%d?%d?%d?%d?%d?%d?", function(x)
    if #x ~= 8 then return "" end
    local c = 0
    for i = 1, 8 do c = c + (x:sub(i, i) == "1" and 2 ^ (8 - i) or 0) end
    return string.char(c)
  end))
end
function init(args)
  for _, auth in ipairs(split(args[1])) do
    local name = string.match(b64decode(auth), "^([^:]+):")
    users[#users + 1] = { path = "/1.1/" .. name .. "/storage/history",
                          headers = { ["Authorization"] = "Basic " .. auth, ["Content-Type"] = "text/plain" } }
  end
  local n, payload = tonumber(args[2] or "100"), args[3] or string.rep("x", 500)
  local quoted = payload:gsub('[\\"]', '\\%0')  -- as a JSON string (the payloads hold no controls)
  local parts = {}
  for i = 1, n do
    parts[i] = string.format('{"id": "rec%06d", "sortindex": %d, "payload": "%s"}', i, i, quoted)
  end
  body = "[" .. table.concat(parts, ",") .. "]"
  counter = math.random(#users)
end
function request()
  counter = counter % #users + 1
  local u = users[counter]
  return wrk.format("POST", u.path, u.headers, body)
end
function response(status, hdrs, b)
  if status ~= 200 then print("unexpected status " .. status .. " " .. b) end
end
