-- get: one job's current state (time's changes applied first).
-- ARGV: id
-- Reply: the job reply, or nil.
tick()
local job = load(ARGV[1])
if not job then return false end
return reply(job)
