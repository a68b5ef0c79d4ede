-- cancel: cancel a scheduled or ready job, keeping a tombstone for ttl.
-- ARGV: id, ttl (us)
-- Reply: the job reply.
tick()
local job = load(ARGV[1])
if not job then raise('NOTFOUND') end
if job.st ~= 'cancelled' then
  if job.st ~= 'scheduled' and job.st ~= 'ready' then raise('TRANSITION', job.st .. ' cancelled') end
  finish(job, 'cancelled', NOW, tonumber(ARGV[2]), nil)
end
return reply(job)
