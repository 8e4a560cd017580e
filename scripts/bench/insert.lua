-- wrk: single-row durable INSERT over POST /v1/sql, unique keys per thread.
local token = os.getenv("P2PDB_TOKEN")
local counter = 0
local threads = {}
thread_id = 0  -- set per thread by setup(); must be a global

setup = function(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

request = function()
  counter = counter + 1
  local id = thread_id * 100000000 + counter
  local body = '{"sql": "INSERT INTO sales(id, item, qty) VALUES (?, ?, ?)", "params": [' .. id .. ', "apple", 1]}'
  return wrk.format("POST", "/v1/sql", {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end

response = function(status, headers, body)
  if status ~= 200 then io.stderr:write("non-200: " .. status .. " " .. body .. "\n") end
end
