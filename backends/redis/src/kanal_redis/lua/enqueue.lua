-- enqueue: store new jobs; an id that already exists returns the stored job unchanged.
-- ARGV: n, then n times: id, payload, priority, key or '', delay (us),
--       run_at (us) or '', max_attempts or '', lease_timeout (us)
-- Reply: one job reply per job, in order.
tick()
local out, woken = {}, 0
for i = 0, tonumber(ARGV[1]) - 1 do
  local a = 2 + i * 8
  local id, key = ARGV[a], ARGV[a + 3]
  local jk = jkey(id)
  if redis.call('EXISTS', jk) == 0 then
    local sq = redis.call('INCR', SEQ)
    redis.call('HSET', jk, 'p', ARGV[a + 1], 'pr', ARGV[a + 2], 'at', 0, 'lt', ARGV[a + 7], 'ea', int(NOW), 'sq', sq)
    if ARGV[a + 6] ~= '' then redis.call('HSET', jk, 'ma', ARGV[a + 6]) end
    local job = {id = id, jk = jk, pr = ARGV[a + 2], sq = sq}
    if key ~= '' then
      job.k = key
      redis.call('HSET', jk, 'k', key)
      redis.call('ZADD', kjobs(key), sq, id)
    end
    place(job, arg_num(a + 5) or NOW + tonumber(ARGV[a + 4]))
    woken = woken + 1
  end
  out[i + 1] = reply(id)
end
wake(woken)
return out
