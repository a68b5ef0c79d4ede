-- reschedule: move a scheduled or ready job to a new run time.
-- ARGV: id, delay (us), run_at (us) or ''
-- Reply: the job reply.
tick()
local job = load(ARGV[1])
if not job then raise('NOTFOUND') end
if job.st ~= 'scheduled' and job.st ~= 'ready' then raise('TRANSITION', job.st .. ' rescheduled') end
unplace(job)
place(job, opt_num(ARGV[3]) or NOW + tonumber(ARGV[2]))
wake(1)
return reply(job)
