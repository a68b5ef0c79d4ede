-- ack_dequeue: complete one leased job and lease the next ones of its queue, in one call.
-- ARGV: result TTL (us), id, token, has result ('1'/'0'), result,
--       limit, lease timeout (us; 0: each job's own), token prefix
-- Reply: {the ack's reply (see ack.lua), {lease reply per new lease}}; a stale lease
--        leases nothing.
tick()
local result = false
if ARGV[4] == '1' then result = ARGV[5] end
batch()
local done = ack({{ARGV[2], ARGV[3], result}}, tonumber(ARGV[1]))[1]
local leases = {}
if done[1] == 1 then leases = dequeue(tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]) end
flush()
return {done, leases}
