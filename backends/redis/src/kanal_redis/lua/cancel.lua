-- cancel: cancel a scheduled or ready job, keeping a tombstone for ttl. With force, a
-- leased job too: finish() frees its lease timer and concurrency slot, and its token,
-- no longer on a leased job, is stale for every holder's call.
-- ARGV: id, ttl (us), force ('1'/'0')
-- Reply: the job reply; error CANCEL <state> when the job's state does not allow it.
tick()
local job = load(ARGV[1])
if not job then raise('NOTFOUND') end
if job.st ~= 'cancelled' then
  local allowed = job.st == 'scheduled' or job.st == 'ready' or (job.st == 'leased' and ARGV[3] == '1')
  if not allowed then raise('CANCEL', job.st) end
  finish(job, 'cancelled', NOW, tonumber(ARGV[2]), nil)
end
return reply(job)
