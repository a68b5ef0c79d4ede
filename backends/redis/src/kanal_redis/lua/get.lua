-- get: one job's current state (time's changes applied first).
-- ARGV: id
-- Reply: the job reply, or nil.
tick()
if redis.call('EXISTS', jkey(ARGV[1])) == 0 then return false end
return reply(ARGV[1])
