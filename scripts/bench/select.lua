-- wrk: point SELECT by primary key over POST /v1/sql, random keys.
local token = os.getenv("P2PDB_TOKEN")
local rows = tonumber(os.getenv("P2PDB_ROWS") or "10000")
math.randomseed(os.time())
request = function()
  local id = math.random(0, rows - 1)
  local body = '{"sql": "SELECT id, name, price FROM items WHERE id = ?", "params": [' .. id .. ']}'
  return wrk.format("POST", "/v1/sql", {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
