-- _lib.lua: the helpers every kanal script shares; prepended to each script body.
--
-- Before this file, kanal_redis.scripts puts a generated prelude that names the queue's
-- fixed keys (BASE, READY, SCHED, LEASED, EXPIRE, PARKED, META, INFLIGHT, BUCKETS,
-- KEYCOUNT, KEYENTRY, SEQ, WAKE, S_SCHEDULED … S_CANCELLED: KEYS[1..19], all under the
-- queue's hash tag) and FIELDS, the job hash fields a job reply carries, in order.
--
-- Keys built here (job hashes, per-key sets) all start with BASE, so every key a script
-- touches is in the queue's slot. Times are integer microseconds from the server's TIME.
--
-- Job hash (BASE:j:<id>): p payload, st state, pr priority, k key, at attempts,
-- ma max attempts, lt lease timeout, ra run at, ea enqueued at, fd/ld first/last dequeued,
-- fa finished at, le last error, r result, tk lease token, lx lease expiry, sb token that
-- settled it, sq enqueue sequence, om ready order, wn clients waiting on a change.
-- A change of state pushes one token per waiting client onto BASE:w:<id>, which they BLPOP.

local BY_STATE = {
  scheduled = S_SCHEDULED, ready = S_READY, leased = S_LEASED,
  completed = S_COMPLETED, dead = S_DEAD, cancelled = S_CANCELLED,
}
local FINAL = {completed = true, dead = true, cancelled = true}
-- Work one call does for time-driven changes, per kind (due, expired, tombstones, parked).
local TICK = 500
local WAKE_MAX = 100

local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local NOW = clock()

local function int(n) return string.format('%d', n) end
local function num(s) if s then return tonumber(s) end return nil end
local function jkey(id) return BASE .. ':j:' .. id end
local function kready(key) return BASE .. ':kr:' .. key end
local function kjobs(key) return BASE .. ':kk:' .. key end

local function raise(code, detail)
  error({err = 'KANAL ' .. code .. ' ' .. (detail or '')})
end

-- A job's hot fields as a table, or nil when there is no such job.
local function load(id)
  local jk = jkey(id)
  local v = redis.call('HMGET', jk, 'st', 'pr', 'k', 'sq', 'at', 'ma', 'lt', 'tk', 'sb', 'ra', 'lx')
  if not v[1] then return nil end
  return {
    id = id, jk = jk, st = v[1], pr = v[2], k = v[3] or nil, sq = v[4], at = tonumber(v[5]),
    ma = num(v[6]), lt = tonumber(v[7]), tk = v[8] or nil, sb = v[9] or nil, ra = num(v[10]),
    lx = num(v[11]),
  }
end

-- The reply for one job: its id, then FIELDS in order (false where a field is unset).
local function reply(id)
  local v = redis.call('HMGET', jkey(id), unpack(FIELDS))
  table.insert(v, 1, id)
  return v
end

-- Push n wake-up tokens (at most WAKE_MAX, kept 10 s) onto a list that clients BLPOP.
local function push_tokens(list, n)
  local tokens = {}
  for i = 1, math.min(n, WAKE_MAX) do tokens[i] = '1' end
  redis.call('LPUSH', list, unpack(tokens))
  redis.call('LTRIM', list, 0, WAKE_MAX - 1)
  redis.call('PEXPIRE', list, 10000)
end

-- Let up to n blocked consumers try a dequeue again.
local function wake(n)
  if n > 0 then push_tokens(WAKE, n) end
end

-- Wake the clients waiting on a change of this job (see watch.lua).
local function notify(job)
  local n = num(redis.call('HGET', job.jk, 'wn') or nil)
  if n then
    push_tokens(BASE .. ':w:' .. job.id, n)
    redis.call('HDEL', job.jk, 'wn')
  end
end

-- Move a job between the per-state indexes (score: enqueue sequence) and key counters.
local function move(job, to)
  local from = job.st
  if from then redis.call('ZREM', BY_STATE[from], job.id) end
  if to then redis.call('ZADD', BY_STATE[to], job.sq, job.id) end
  if job.k then
    if from then
      local field = job.k .. '|' .. from
      if redis.call('HINCRBY', KEYCOUNT, field, -1) <= 0 then redis.call('HDEL', KEYCOUNT, field) end
    end
    if to then redis.call('HINCRBY', KEYCOUNT, job.k .. '|' .. to, 1) end
  end
  job.st = to
end

-- ---------------------------------------------------------------- limits

-- The limits of a scope ('' for the queue, else a key; a key falls back to '*').
local function limits(scope)
  local f
  if scope == '' then
    f = redis.call('HMGET', META, 'rl:', 'cc:')
  else
    f = redis.call('HMGET', META, 'rl:' .. scope, 'cc:' .. scope, 'rl:*', 'cc:*')
  end
  local rl, cc = f[1] or f[3], f[2] or f[4]
  local rate, burst
  if rl then
    local r, b = string.match(rl, '(%S+) (%S+)')
    rate, burst = tonumber(r), tonumber(b)
  end
  return rate, burst, num(cc or nil)
end

-- The scope's tokens now. Only buckets below capacity are stored (a new one starts full).
local function tokens(scope, rate, burst)
  local b = redis.call('HGET', BUCKETS, scope)
  if not rate then
    if b then redis.call('HDEL', BUCKETS, scope) end
    return math.huge
  end
  if not b then return burst end
  local left, updated = string.match(b, '(%S+) (%S+)')
  local t = math.min(burst, tonumber(left) + math.max(NOW - tonumber(updated), 0) * rate / 1000000)
  if t >= burst then
    redis.call('HDEL', BUCKETS, scope)
  else
    redis.call('HSET', BUCKETS, scope, string.format('%.17g', t) .. ' ' .. int(NOW))
  end
  return t
end

local function take(scope)
  local rate, burst = limits(scope)
  if rate then
    redis.call('HSET', BUCKETS, scope, string.format('%.17g', tokens(scope, rate, burst) - 1) .. ' ' .. int(NOW))
  end
end

-- How many more jobs the scope may start now, and when it may have room again if none
-- (nil: unlimited; '+inf': when a lease is released; else a time).
local function room(scope)
  local rate, burst, cap = limits(scope)
  local r, wake_at = math.huge, nil
  if cap then
    local used
    if scope == '' then
      used = redis.call('ZCARD', LEASED)
    else
      used = tonumber(redis.call('HGET', INFLIGHT, scope) or '0')
    end
    r = cap - used
    if r < 1 then wake_at = '+inf' end
  end
  if rate then
    local t = tokens(scope, rate, burst)
    if math.floor(t) < r then r = math.floor(t) end
    if t < 1 and not wake_at then wake_at = NOW + math.ceil((1 - t) / rate * 1000000) end
  end
  return r, wake_at
end

-- ---------------------------------------------------------------- ready structures
--
-- READY (score: priority; member: 29-char order, then 'j'..id or 'k'..key) holds
-- unkeyed jobs and one entry per key that is not parked, for the key's best job.
-- A key's jobs wait in BASE:kr:<key> (member: order..id). A key without room is parked
-- (PARKED, score: when it may have room) and holds nothing in READY, so it never
-- blocks other keys and costs no work per dequeue.

local function refresh_key(key)
  local old = redis.call('HGET', KEYENTRY, key)
  if old then redis.call('ZREM', READY, old) end
  local head = {}
  if not redis.call('ZSCORE', PARKED, key) then
    head = redis.call('ZRANGE', kready(key), 0, 0, 'WITHSCORES')
  end
  if head[1] then
    local entry = string.sub(head[1], 1, 29) .. 'k' .. key
    redis.call('ZADD', READY, head[2], entry)
    redis.call('HSET', KEYENTRY, key, entry)
  elseif old then
    redis.call('HDEL', KEYENTRY, key)
  end
end

local function unpark(key)
  if redis.call('ZREM', PARKED, key) == 1 then refresh_key(key) end
end

local function unpark_all()
  local keys = redis.call('ZRANGE', PARKED, 0, -1)
  for _, key in ipairs(keys) do unpark(key) end
  return #keys
end

local function push_ready(job, run_at)
  local order = string.format('%017d%012d', run_at, redis.call('INCR', SEQ))
  redis.call('HSET', job.jk, 'om', order)
  if job.k then
    local kr = kready(job.k)
    redis.call('ZADD', kr, job.pr, order .. job.id)
    if redis.call('ZRANK', kr, order .. job.id) == 0 then refresh_key(job.k) end
  else
    redis.call('ZADD', READY, job.pr, order .. 'j' .. job.id)
  end
end

-- Take a ready or scheduled job out of the structures that hand it out.
local function unplace(job)
  if job.st == 'scheduled' then
    redis.call('ZREM', SCHED, job.id)
  elseif job.st == 'ready' then
    local order = redis.call('HGET', job.jk, 'om')
    if job.k then
      redis.call('ZREM', kready(job.k), order .. job.id)
      refresh_key(job.k)
    else
      redis.call('ZREM', READY, order .. 'j' .. job.id)
    end
  end
end

-- Make a job (new, or out of every structure) ready or scheduled to run at run_at.
local function place(job, run_at)
  local to = 'scheduled'
  if run_at <= NOW then to = 'ready' end
  move(job, to)
  redis.call('HSET', job.jk, 'st', to, 'ra', int(run_at))
  job.ra = run_at
  if to == 'ready' then
    push_ready(job, run_at)
  else
    redis.call('ZADD', SCHED, run_at, job.id)
  end
  notify(job)
  return to
end

-- Free what a leased job holds: its lease entry and its concurrency slots.
local function release(job)
  redis.call('ZREM', LEASED, job.id)
  local freed = redis.call('HEXISTS', META, 'cc:') == 1
  if job.k then
    if redis.call('HINCRBY', INFLIGHT, job.k, -1) <= 0 then redis.call('HDEL', INFLIGHT, job.k) end
    if redis.call('ZSCORE', PARKED, job.k) then
      unpark(job.k)
      freed = true
    end
  end
  if freed then wake(1) end
end

-- Delete a job and every trace of it.
local function drop(job)
  if job.st == 'leased' then release(job) else unplace(job) end
  notify(job)
  move(job, nil)
  redis.call('ZREM', EXPIRE, job.id)
  if job.k then redis.call('ZREM', kjobs(job.k), job.id) end
  redis.call('DEL', job.jk)
end

-- Move a job to a final state; keep it ttl microseconds (nil: until purged; 0: the
-- caller drops it after building its reply).
local function finish(job, state, at, ttl, settled_by)
  if job.st == 'leased' then release(job) else unplace(job) end
  move(job, state)
  redis.call('HSET', job.jk, 'st', state, 'fa', int(at))
  if settled_by then
    redis.call('HSET', job.jk, 'sb', settled_by)
  else
    redis.call('HDEL', job.jk, 'sb')
  end
  if ttl and ttl > 0 then redis.call('ZADD', EXPIRE, NOW + ttl, job.id) end
  notify(job)
end

-- The job's reply, then the job dropped if it was finished with a zero TTL.
local function settled(job, ttl)
  local r = reply(job.id)
  if ttl == 0 then drop(job) end
  return r
end

-- ---------------------------------------------------------------- time

-- Apply what time alone has changed: promote due jobs, reclaim expired leases, forget
-- finished jobs past their TTL, unpark keys whose tokens are back. Bounded per call.
local function tick()
  local promoted, reclaimed, dead = 0, 0, 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', SCHED, '-inf', NOW, 'LIMIT', 0, TICK)) do
    redis.call('ZREM', SCHED, id)
    local job = load(id)
    if job and job.st == 'scheduled' then
      move(job, 'ready')
      redis.call('HSET', job.jk, 'st', 'ready')
      push_ready(job, job.ra)
      notify(job)
      promoted = promoted + 1
    end
  end
  local due = redis.call('ZRANGEBYSCORE', LEASED, '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, TICK)
  for i = 1, #due, 2 do
    local job, expired = load(due[i]), tonumber(due[i + 1])
    if job.ma and job.at >= job.ma then
      redis.call('HSET', job.jk, 'le', 'lease expired (attempt ' .. job.at .. ' of ' .. job.ma .. ')')
      finish(job, 'dead', expired, nil, nil)
      dead = dead + 1
    else
      redis.call('HSET', job.jk, 'le', 'lease expired')
      release(job)
      place(job, expired)
      reclaimed = reclaimed + 1
    end
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', EXPIRE, '-inf', NOW, 'LIMIT', 0, TICK)) do
    local job = load(id)
    if job then drop(job) else redis.call('ZREM', EXPIRE, id) end
  end
  for _, key in ipairs(redis.call('ZRANGEBYSCORE', PARKED, '-inf', NOW, 'LIMIT', 0, TICK)) do
    unpark(key)
  end
  return {promoted, reclaimed, dead}
end

-- ---------------------------------------------------------------- leases

-- The job a lease names if the lease still holds it (or, with replay, already settled
-- it as that state); else a KANAL error naming why the lease is stale.
local function held(id, token, replay)
  local job = load(id)
  if not job then raise('GONE') end
  if job.tk ~= token then raise('REDELIVERED') end
  if job.st == 'leased' or (replay and job.st == replay and job.sb == token) then return job end
  raise('NOTHELD', job.st)
end

-- held() for bulk calls: the job, or nil and the error text.
local function held_or_stale(id, token, replay)
  local ok, job = pcall(held, id, token, replay)
  if ok then return job, nil end
  if type(job) == 'table' then return nil, job.err end
  return nil, job
end

local function lease(job, lease_us, token)
  local expires = NOW + job.lt
  if lease_us > 0 then expires = NOW + lease_us end
  move(job, 'leased')
  job.at = job.at + 1
  job.tk = token
  redis.call('HSET', job.jk, 'st', 'leased', 'at', job.at, 'tk', token, 'lx', int(expires), 'ld', int(NOW))
  redis.call('HSETNX', job.jk, 'fd', int(NOW))
  redis.call('HDEL', job.jk, 'sb')
  redis.call('ZADD', LEASED, expires, job.id)
  if job.k then redis.call('HINCRBY', INFLIGHT, job.k, 1) end
  notify(job)
end

-- Lease up to limit jobs by priority then order, within every limit; a key without
-- room is parked on the way. token_base .. n makes each lease's token.
local function dequeue(limit, lease_us, token_base)
  local out = {}
  if redis.call('HEXISTS', META, 'paused') == 1 then return out end
  local budget = math.min(limit, (room('')))
  local queue_rated = limits('') ~= nil
  local steps = budget + 1000
  while #out < budget and steps > 0 do
    steps = steps - 1
    local head = redis.call('ZRANGE', READY, 0, 0)[1]
    if not head then break end
    local id, key = nil, nil
    if string.sub(head, 30, 30) == 'j' then
      redis.call('ZREM', READY, head)
      id = string.sub(head, 31)
    else
      key = string.sub(head, 31)
      local r, wake_at = room(key)
      if r >= 1 then
        id = string.sub(redis.call('ZPOPMIN', kready(key))[1], 30)
        refresh_key(key)
        take(key)
      else
        redis.call('ZREM', READY, head)
        redis.call('HDEL', KEYENTRY, key)
        redis.call('ZADD', PARKED, wake_at, key)
      end
    end
    if id then
      local job = load(id)
      lease(job, lease_us, token_base .. #out)
      if queue_rated then take('') end
      out[#out + 1] = reply(id)
    end
  end
  return out
end

-- Complete leased jobs. items: {id, token, result or false}; returns a reply per item:
-- {1, job reply} or {0, error text}.
local function ack(items, ttl)
  local out = {}
  for i, item in ipairs(items) do
    local job, stale = held_or_stale(item[1], item[2], 'completed')
    if job and job.st == 'leased' then
      if item[3] then redis.call('HSET', job.jk, 'r', item[3]) else redis.call('HDEL', job.jk, 'r') end
      finish(job, 'completed', NOW, ttl, item[2])
      out[i] = {1, settled(job, ttl)}
    elseif job then
      out[i] = {1, reply(job.id)}
    else
      out[i] = {0, stale}
    end
  end
  return out
end

-- ARGV[i] as a number, or nil when it is ''.
local function arg_num(i)
  if ARGV[i] == '' then return nil end
  return tonumber(ARGV[i])
end
