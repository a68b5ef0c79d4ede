-- watch: before waiting on a job, say whether it has already reached what is awaited;
-- else register one more waiter, whom the job's next change wakes (BLPOP on BASE:w:<id>).
-- ARGV: id, then the awaited states
-- Reply: us until time alone may change the job (0: done waiting; -1: only another
--        client can)
tick()
local job = load(ARGV[1])
if not job or FINAL[job.st] then return 0 end
for i = 2, #ARGV do
  if ARGV[i] == job.st then return 0 end
end
redis.call('HINCRBY', job.jk, 'wn', '1')
local due = -1
if job.st == 'leased' then
  due = tonumber(job.lx) - NOW
elseif job.st == 'scheduled' then
  due = tonumber(job.ra) - NOW
end
if due ~= -1 and due < 1000 then due = 1000 end
return due
