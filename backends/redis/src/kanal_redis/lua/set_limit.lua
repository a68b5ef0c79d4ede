-- set_limit: set or clear a rate limit ('rl') or concurrency limit ('cc') of a scope
-- ('' the queue, '*' each key, else one key); parked keys are looked at again.
-- ARGV: kind, scope, value ('rate burst' or the cap; '' clears)
-- Reply: 1
tick()
if ARGV[1] == 'rl' then
  -- Settle every bucket at the old rates first.
  for _, scope in ipairs(redis.call('HKEYS', BUCKETS)) do
    local rate, burst = limits(scope)
    tokens(scope, rate, burst)
  end
end
local field = ARGV[1] .. ':' .. ARGV[2]
if ARGV[3] == '' then redis.call('HDEL', META, field) else redis.call('HSET', META, field, ARGV[3]) end
QM = nil
unpark_all()
wake(WAKE_MAX)
return 1
