-- fail: dead-letter a leased job now; a replay with the same token returns the dead job.
-- ARGV: id, token, error
-- Reply: the job reply.
tick()
local job = held(ARGV[1], ARGV[2], 'dead')
if job.st == 'leased' then finish(job, 'dead', NOW, nil, ARGV[2], 'le', ARGV[3]) end
return reply(job)
