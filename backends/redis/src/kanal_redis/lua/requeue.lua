-- requeue: give a leased job back to run after a delay, or dead-letter it after its
-- last attempt.
-- ARGV: id, token, delay (us), error or ''
-- Reply: the job reply.
tick()
local job = held(ARGV[1], ARGV[2], nil)
if job.ma and job.at >= job.ma then
  local why = ARGV[4]
  if why == '' then
    why = 'requeued after the last attempt (' .. job.at .. ' of ' .. job.ma .. ')'
  end
  redis.call('HSET', job.jk, 'le', why)
  finish(job, 'dead', NOW, nil, nil)
else
  if ARGV[4] ~= '' then redis.call('HSET', job.jk, 'le', ARGV[4]) end
  release(job)
  place(job, NOW + tonumber(ARGV[3]))
  wake(1)
end
return reply(job.id)
