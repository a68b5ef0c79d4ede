-- list_jobs: a page of the queue's jobs in some states (and of one key), in enqueue order.
-- ARGV: key or '', limit, offset, then the states
-- Reply: job replies.
tick()
local key, limit, offset = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local wanted, out = {}, {}
for i = 4, #ARGV do wanted[ARGV[i]] = true end
if key ~= '' then
  local skipped = 0
  for _, id in ipairs(redis.call('ZRANGE', kjobs(key), '0', '-1')) do
    if wanted[redis.call('HGET', jkey(id), 'st')] then
      if skipped < offset then skipped = skipped + 1 else out[#out + 1] = reply(load(id)) end
      if #out >= limit then break end
    end
  end
  return out
end
local found = {}
for state in pairs(wanted) do
  local low, high = state_range(state)
  local page = redis.call('ZRANGEBYSCORE', STATES, low, high, 'WITHSCORES', 'LIMIT', '0', int(offset + limit))
  -- The score less the state's part is the enqueue sequence.
  for i = 1, #page, 2 do found[#found + 1] = {tonumber(page[i + 1]) - tonumber(low), page[i]} end
end
table.sort(found, function(a, b) return a[1] < b[1] end)
for i = offset + 1, math.min(#found, offset + limit) do out[#out + 1] = reply(load(found[i][2])) end
return out
