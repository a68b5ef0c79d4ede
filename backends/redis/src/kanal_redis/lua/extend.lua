-- extend: push leases' expiry to now + timeout (0: each job's own lease timeout).
-- ARGV: timeout (us), n, then n times: id, token
-- Reply: per lease {1, new expiry (us)} or {0, why the lease is stale}.
tick()
local out = {}
for i = 0, tonumber(ARGV[2]) - 1 do
  local job, stale = held_or_stale(ARGV[3 + i * 2], ARGV[4 + i * 2], nil, RENEWING)
  if job then
    local expires = NOW + tonumber(job.lt)
    if tonumber(ARGV[1]) > 0 then expires = NOW + tonumber(ARGV[1]) end
    put(job, 'lx', int(expires))
    redis.call('ZADD', DUE, job.lx, 'x' .. job.id)
    out[i + 1] = {1, job.lx}
  else
    out[i + 1] = {0, stale}
  end
end
return out
