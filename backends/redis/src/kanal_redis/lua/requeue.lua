-- requeue: give a leased job back to run after a delay, or dead-letter it after its
-- last attempt.
-- ARGV: id, token, delay (us), error or ''
-- Reply: the job reply.
tick()
local job = held(ARGV[1], ARGV[2], nil)
local ma, attempts = num(job.ma or nil), tonumber(job.at)
if ma and attempts >= ma then
  local why = ARGV[4]
  if why == '' then why = 'requeued after the last attempt (' .. attempts .. ' of ' .. ma .. ')' end
  finish(job, 'dead', NOW, nil, nil, 'le', why)
else
  release(job)
  if ARGV[4] ~= '' then
    place(job, NOW + tonumber(ARGV[3]), 'le', ARGV[4])
  else
    place(job, NOW + tonumber(ARGV[3]))
  end
  wake(1)
end
return reply(job)
