-- redrive: move dead jobs (these ids, or the oldest up to limit) back to ready with
-- fresh attempts.
-- ARGV: limit, then the ids (none: the oldest dead jobs)
-- Reply: how many were moved.
tick()
local ids = {}
if #ARGV > 1 then
  for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  local low, high = state_range('dead')
  ids = redis.call('ZRANGEBYSCORE', STATES, low, high, 'LIMIT', '0', ARGV[1])
end
local moved = 0
for _, id in ipairs(ids) do
  local job = load(id)
  if job and job.st == 'dead' then
    redis.call('HDEL', job.jk, 'fa', 'sb')
    job.fa, job.sb = false, false
    place(job, NOW, 'at', '0')
    moved = moved + 1
  end
end
wake(moved)
return moved
