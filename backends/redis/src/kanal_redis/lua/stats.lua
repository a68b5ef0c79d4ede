-- stats: counts per state, whether the queue is paused, and counts per limited key.
-- ARGV: none
-- Reply: {scheduled, ready, leased, completed, dead, cancelled, paused (0/1),
--         {key, state, count, ...} for every key with a limit of its own or under '*'}
tick()
local out = {}
for i, state in ipairs({'scheduled', 'ready', 'leased', 'completed', 'dead', 'cancelled'}) do
  out[i] = count(state)
end
out[7] = redis.call('HEXISTS', META, 'paused')
local limited, every = {}, false
for _, field in ipairs(redis.call('HKEYS', META)) do
  local scope = string.match(field, '^[rc][lc]:(.+)$')
  if scope == '*' then every = true elseif scope then limited[scope] = true end
end
local per_key = {}
local counts = redis.call('HGETALL', KEYCOUNT)
for i = 1, #counts, 2 do
  local key, state = string.match(counts[i], '^(.*)|(%a+)$')
  if every or limited[key] then
    per_key[#per_key + 1] = key
    per_key[#per_key + 1] = state
    per_key[#per_key + 1] = counts[i + 1]
  end
end
out[8] = per_key
return out
