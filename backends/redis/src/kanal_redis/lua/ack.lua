-- ack: complete leased jobs; a replay with the same token succeeds again, changing nothing.
-- ARGV: result TTL (us), n, then n times: id, token, has result ('1'/'0'), result
-- Reply: per lease {1, finished at}, for a replay {1, finished at, stored result or false},
--        or {0, why the lease is stale}.
local items = {}
for i = 0, tonumber(ARGV[2]) - 1 do
  local a = 3 + i * 4
  local result = false
  if ARGV[a + 2] == '1' then result = ARGV[a + 3] end
  items[i + 1] = {ARGV[a], ARGV[a + 1], result}
end
return ack(items, tonumber(ARGV[1]))
