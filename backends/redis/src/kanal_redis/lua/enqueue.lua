-- enqueue: store new jobs; an id that already exists returns the stored job unchanged.
-- ARGV: n, then n times: id, payload, priority, key or '', delay (us),
--       run_at (us) or '', max_attempts or '', lease_timeout (us)
-- Reply: per job, {state, run at, enqueued at} for a new job, or the job reply of the
--        stored one.
-- Time is applied (tick) only when an id exists: a finished job past its TTL frees its id.
local n = tonumber(ARGV[1])
local out, woken = {}, 0
local seq = redis.call('INCRBY', SEQ, ARGV[1]) - n
batch()
for i = 0, n - 1 do
  local a = 2 + i * 8
  local id = ARGV[a]
  local job = nil
  if redis.call('EXISTS', jkey(id)) == 1 then
    tick()
    job = load(id)
  end
  if job then
    out[i + 1] = reply(job)
  else
    local sq = int(seq + i + 1)
    job = {id = id, jk = jkey(id), sq = sq, pr = ARGV[a + 2], k = false, ma = false}
    local fields = {'pr', ARGV[a + 2], 'at', '0', 'lt', ARGV[a + 7], 'ea', NOW_S, 'sq', sq}
    put_payload(fields, ARGV[a + 1])
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
    local run_at = opt_num(ARGV[a + 5]) or NOW + tonumber(ARGV[a + 4])
    if run_at <= NOW then
      move(job, 'ready')
      push_ready(job, run_at, 'st', 'ready', 'ra', int(run_at), unpack(fields))
    else
      move(job, 'scheduled')
      put(job, 'st', 'scheduled', 'ra', int(run_at), unpack(fields))
      zadd(DUE, job.ra, 's' .. id)
    end
    out[i + 1] = {job.st, job.ra, NOW_S}
    woken = woken + 1
  end
end
flush()
wake(woken)
return out
