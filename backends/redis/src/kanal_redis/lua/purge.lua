-- purge: delete up to a chunk of the queue's jobs in some states (and of one key).
-- ARGV: key or '', chunk, then the states
-- Reply: {deleted, 1 if more may match else 0}
tick()
local key, chunk = ARGV[1], tonumber(ARGV[2])
local deleted = 0
local wanted = {}
for i = 3, #ARGV do wanted[ARGV[i]] = true end
local function purge_ids(ids)
  for _, id in ipairs(ids) do
    if deleted >= chunk then return end
    local job = load(id)
    if job and wanted[job.st] then
      drop(job)
      deleted = deleted + 1
    end
  end
end
if key ~= '' then
  purge_ids(redis.call('ZRANGE', kjobs(key), '0', '-1'))
else
  for state in pairs(wanted) do
    local low, high = state_range(state)
    purge_ids(redis.call('ZRANGEBYSCORE', STATES, low, high, 'LIMIT', '0', ARGV[2]))
  end
end
if deleted >= chunk then return {deleted, 1} end
return {deleted, 0}
