-- ready_in: whether a dequeue would lease a job now, else when time alone may change that.
-- ARGV: none
-- Reply: us until then (0: now; -1: only another client can change it)
tick()
if redis.call('HEXISTS', META, 'paused') == 1 then return -1 end
local r, wake_at = room('')
if r < 1 then
  if wake_at == '+inf' then return -1 end
  return math.max(wake_at - NOW, 1000)
end
if redis.call('ZCARD', READY) > 0 then return 0 end
local soonest = nil
for _, set in ipairs({SCHED, LEASED, PARKED}) do
  local head = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')[2]
  if head and head ~= 'inf' then
    local t = tonumber(head)
    if not soonest or t < soonest then soonest = t end
  end
end
if not soonest then return -1 end
return math.max(soonest - NOW, 1000)
