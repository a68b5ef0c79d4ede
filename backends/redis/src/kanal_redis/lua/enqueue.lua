-- enqueue: store new jobs; an id that already exists returns the stored job unchanged.
-- ARGV: n, then n times: id, payload, priority, key or '', delay (us),
--       run_at (us) or '', max_attempts or '', lease_timeout (us)
-- Reply: one job reply per job, in order.
tick()
local out, woken = {}, 0
for i = 0, tonumber(ARGV[1]) - 1 do
  local a = 2 + i * 8
  local id = ARGV[a]
  local job = nil
  if redis.call('EXISTS', jkey(id)) == 1 then
    job = load(id)
  else
    local sq = redis.call('INCR', SEQ)
    job = {id = id, jk = jkey(id), sq = sq, pr = ARGV[a + 2], k = false, ma = false}
    local fields = {'p', ARGV[a + 1], 'pr', ARGV[a + 2], 'at', '0', 'lt', ARGV[a + 7], 'ea', NOW_S, 'sq', sq}
    if ARGV[a + 6] ~= '' then
      fields[#fields + 1] = 'ma'
      fields[#fields + 1] = ARGV[a + 6]
    end
    if ARGV[a + 3] ~= '' then
      job.k = ARGV[a + 3]
      fields[#fields + 1] = 'k'
      fields[#fields + 1] = job.k
      redis.call('ZADD', kjobs(job.k), sq, id)
    end
    local run_at = arg_num(a + 5) or NOW + tonumber(ARGV[a + 4])
    if run_at <= NOW then
      move(job, 'ready')
      push_ready(job, run_at, sq, 'st', 'ready', 'ra', int(run_at), unpack(fields))
    else
      move(job, 'scheduled')
      put(job, 'st', 'scheduled', 'ra', int(run_at), unpack(fields))
      redis.call('ZADD', DUE, run_at, 's' .. id)
    end
    woken = woken + 1
  end
  out[i + 1] = reply(job)
end
wake(woken)
return out
