-- dequeue: lease up to limit visible jobs, honouring pause and every limit; never blocks.
-- ARGV: limit, lease timeout (us; 0: each job's own), token prefix (random per call)
-- Reply: one job reply per lease (its token and expiry are fields tk and lx).
tick()
return dequeue(tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3])
