-- dequeue: lease up to limit visible jobs, honouring pause and every limit; never blocks.
-- ARGV: limit, lease timeout (us; 0: each job's own), token prefix (random per call), and,
--       from a client that blocks when this finds nothing, how long it may block (us)
-- Reply: a lease reply per lease: the id, then payload, priority, key, attempts, max
--        attempts, lease timeout, run at, enqueued at, first and last dequeued, last
--        error, token, expiry. When nothing is leased and the client said it would block,
--        instead: the us until time alone may change that (see sleep_until).
tick()
local out = dequeue(tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3])
if #out > 0 or not ARGV[4] then return out end
return sleep_until(tonumber(ARGV[4]))
