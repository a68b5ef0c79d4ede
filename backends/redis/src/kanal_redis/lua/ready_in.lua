-- ready_in: whether a dequeue would lease a job now, else when time alone may change
-- that; a client about to block says so, so that changes push it a wake-up token.
-- ARGV: how long the client may block (us)
-- Reply: us until then (0: now; -1: only another client can change it)
tick()
local until_us = NOW + tonumber(ARGV[1])
local sleep = num(qmeta().sleep or nil)
if not sleep or sleep < until_us then
  redis.call('HSET', META, 'sleep', int(until_us))
  QM.sleep = int(until_us)
end
if qmeta().paused then return -1 end
local r, wake_at = room('')
if r < 1 then
  if wake_at == '+inf' then return -1 end
  return math.max(wake_at - NOW, 1000)
end
if redis.call('ZCARD', READY) > 0 then return 0 end
local head = redis.call('ZRANGE', DUE, 0, 0, 'WITHSCORES')[2]
if not head then return -1 end
return math.max(tonumber(head) - NOW, 1000)
