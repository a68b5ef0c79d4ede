-- _lib.lua: the helpers every kanal operation shares.
--
-- On Redis 7+ this is the top level of one function library (kanal_redis.scripts): it
-- runs once per FUNCTION LOAD, and each operation is a function that starts with
-- begin(KEYS). On older servers it is part of every script, before the operation.
-- Helpers keep no state across calls: begin() resets what one call uses (the queue's
-- keys, the time, the cached queue settings). No globals: functions may not use them.
--
-- Before this file, kanal_redis.scripts puts a generated prelude that declares the queue's
-- fixed keys (BASE, READY, DUE, PARKED, META, BUCKETS, KEYCOUNT, KEYENTRY, SEQ, WAKE,
-- STATES: KEYS[1..11], all under the queue's hash tag), bind(keys)
-- that sets them, and FIELDS, the job hash fields a job reply carries, in order. Keys
-- built here (job hashes, per-key sets) all start with BASE, so every key a call
-- touches is in the queue's slot.
-- Times are integer microseconds from the server's TIME, written with int().
--
-- Job hash (BASE:j:<id>): p payload (p1, p2 … its further pieces: see put_payload),
-- st state, pr priority, k key, at attempts, ma max attempts, lt lease timeout, ra run at,
-- ea enqueued at, fd/ld first/last dequeued, fa finished at, le last error, r result,
-- tk lease token, lx lease expiry, sb token that settled it, sq enqueue sequence,
-- wn clients waiting on a change, cq '1' if the queue had a concurrency limit when the
-- job was leased.
--
-- DUE holds every timer, by time: 's'..id a scheduled job, 'x'..id a job's expiry (its
-- lease's while leased; once finished, the job's own, so an ack moves the one timer),
-- 'p'..key a key waiting for rate tokens, 'b'..scope a token bucket full again.
-- STATES indexes every job by state, then enqueue sequence (score: the state's code
-- * 2^40 + sequence), for counts and listing: a change of state is one ZADD, and a
-- state's jobs are one score range.
-- KEYCOUNT counts a key's jobs per state ('key|state'); 'key|leased' is its in-flight.
-- A change of a job pushes one token per waiting client onto BASE:w:<id> (they BLPOP).
-- A call's cost is mostly its redis.call count: the hot paths keep it small. Arguments to
-- redis.call are strings: Redis 7.0 formats a Lua number with printf's %.17g, which costs
-- more than the command itself (int() below is several times cheaper).

local CODE = {scheduled = 1, ready = 2, leased = 3, completed = 4, dead = 5, cancelled = 6}
local SPAN = 1099511627776
local FINAL = {completed = true, dead = true, cancelled = true}
-- Timers one call handles at most, so no call blocks the server for long.
local TICK = '500'
local WAKE_MAX = 100

local function int(n) return string.format('%d', n) end
-- The server's time at the start of the call, as a number and as text.
local NOW, NOW_S

local function num(s) if s then return tonumber(s) end return nil end
local function jkey(id) return BASE .. ':j:' .. id end
local function kready(key) return BASE .. ':kr:' .. key end
local function kjobs(key) return BASE .. ':kk:' .. key end

local function raise(code, detail)
  error({err = 'KANAL ' .. code .. ' ' .. (detail or '')})
end

-- An argument as a number, or nil when it is ''.
local function opt_num(s)
  if s == '' then return nil end
  return tonumber(s)
end

-- The queue's own settings, read once per call (scripts that change META reset it).
local QM = nil
-- Deferred sorted-set writes (see batch() below); none between calls.
local LATER = nil

-- Start a call on the queue whose fixed keys are keys.
local function begin(keys)
  bind(keys)
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000000 + tonumber(t[2])
  NOW_S = int(NOW)
  QM = nil
  LATER = nil
end
local function qmeta()
  if not QM then
    local v = redis.call('HMGET', META, 'paused', 'rl:', 'cc:', 'rl:*', 'cc:*', 'sleep')
    QM = {paused = v[1], rl = v[2], cc = v[3], rl_each = v[4], cc_each = v[5], sleep = v[6]}
  end
  return QM
end

-- ---------------------------------------------------------------- jobs

-- Built with plain loops: the library's top level runs where no globals exist.
-- What settling and renewing a lease read of its job (held() reads sb, fa and r too when
-- the job is settled already), and what tick() reads of a job whose timer is due.
local SETTLING = {'st', 'tk', 'lx', 'k', 'sq', 'wn', 'cq'}
local RENEWING = {'st', 'tk', 'lx', 'lt'}
local TIMED = {'st', 'ra', 'sq', 'k', 'pr', 'at', 'ma', 'wn', 'cq'}

-- A job's fields as a table (only columns, if given; they must not include p), or nil
-- when there is no such job. Unset fields are nil or false.
local function load(id, columns)
  local jk = jkey(id)
  local job = {id = id, jk = jk}
  if columns then
    local v = redis.call('HMGET', jk, unpack(columns))
    for i, f in ipairs(columns) do job[f] = v[i] end
  else
    local v = redis.call('HGETALL', jk)
    for i = 1, #v, 2 do job[v[i]] = v[i + 1] end
    if job.p1 then
      local parts, n = {job.p}, 1
      while job['p' .. n] do
        parts[n + 1] = job['p' .. n]
        n = n + 1
      end
      job.p = table.concat(parts)
    end
  end
  if not job.st then return nil end
  return job
end

-- Append the field/value pairs that store a payload: in pieces of PIECE bytes (p, p1, p2
-- …) when that keeps every value of the job's hash short enough for Redis's compact
-- listpack encoding (hash-max-listpack-value, 64 by default), which takes about a third
-- of the memory of a hash table; one field when the payload is too long for that to pay.
local PIECE, PIECES = 64, 16
local function put_payload(fields, payload)
  local n = #fields
  if #payload <= PIECE or #payload > PIECE * PIECES then
    fields[n + 1], fields[n + 2] = 'p', payload
    return
  end
  fields[n + 1], fields[n + 2] = 'p', string.sub(payload, 1, PIECE)
  local i = 1
  for at = PIECE + 1, #payload, PIECE do
    fields[n + 1 + 2 * i], fields[n + 2 + 2 * i] = 'p' .. i, string.sub(payload, at, at + PIECE - 1)
    i = i + 1
  end
end

-- Write field/value pairs to the job, in Redis and in the table.
local function put(job, ...)
  local args = {...}
  for i = 1, #args, 2 do job[args[i]] = args[i + 1] end
  redis.call('HSET', job.jk, ...)
end

-- The reply for one job: its id, then FIELDS in order (nil where unset).
local function reply(job)
  local r = {job.id}
  for i, f in ipairs(FIELDS) do r[i + 1] = job[f] or false end
  return r
end

-- Push n wake-up tokens (at most WAKE_MAX, kept 10 s) onto a list that clients BLPOP.
local function push_tokens(list, n)
  local tokens = {}
  for i = 1, math.min(n, WAKE_MAX) do tokens[i] = '1' end
  if redis.call('LPUSH', list, unpack(tokens)) > WAKE_MAX then redis.call('LTRIM', list, '0', int(WAKE_MAX - 1)) end
  redis.call('PEXPIRE', list, '10000')
end

-- Let up to n blocked consumers try a dequeue again, if any said they would block.
local function wake(n)
  local sleep = qmeta().sleep
  if n <= 0 or not sleep then return end
  if tonumber(sleep) > NOW then
    push_tokens(WAKE, n)
  else
    redis.call('HDEL', META, 'sleep')
    QM.sleep = false
  end
end

-- Wake the clients waiting on a change of this job (see watch.lua).
local function notify(job)
  if job.wn then
    push_tokens(BASE .. ':w:' .. job.id, tonumber(job.wn))
    redis.call('HDEL', job.jk, 'wn')
    job.wn = false
  end
end

-- Sorted-set writes that loops over many jobs defer: between batch() and flush(), zadd
-- and zrem collect them, and flush() sends one ZREM, then one ZADD, per key. Only
-- STATES, DUE's job timers and READY's unkeyed entries go through here; what reads
-- STATES or DUE writes them first (settle(): tick(), count()), nothing in a batch reads
-- READY after adding to it (tick() settles what it changed), and nothing adds then
-- removes one member.

local function zrem(key, member)
  if not LATER then return redis.call('ZREM', key, member) end
  local list = LATER.rem[key]
  if not list then list = {}; LATER.rem[key] = list end
  list[#list + 1] = member
end

local function zadd(key, score, member)
  if not LATER then return redis.call('ZADD', key, score, member) end
  local list = LATER.add[key]
  if not list then list = {}; LATER.add[key] = list end
  list[#list + 1] = score
  list[#list + 1] = member
end

-- Start deferring; false when a caller already does (and flushes: ack_dequeue sends the
-- index writes of its ack and of its leases together).
local function batch()
  if LATER then return false end
  LATER = {rem = {}, add = {}}
  return true
end

local function flush()
  local later = LATER
  LATER = nil
  for key, members in pairs(later.rem) do redis.call('ZREM', key, unpack(members)) end
  for key, entries in pairs(later.add) do redis.call('ZADD', key, unpack(entries)) end
end

-- Send what is deferred so far, and keep deferring.
local function settle()
  if LATER then
    flush()
    batch()
  end
end

-- The score range of a state's jobs in STATES (min, exclusive max), as ZCOUNT and
-- ZRANGEBYSCORE take it.
local function state_range(state)
  local low = CODE[state] * SPAN
  return int(low), '(' .. int(low + SPAN)
end

-- How many jobs are in a state.
local function count(state)
  settle()
  return redis.call('ZCOUNT', STATES, state_range(state))
end

-- Move a job to another state in STATES and the key counters (to = nil: out of them).
local function move(job, to)
  local from = job.st
  if to then
    zadd(STATES, int(CODE[to] * SPAN + job.sq), job.id)
  elseif from then
    zrem(STATES, job.id)
  end
  if job.k then
    if from then
      local field = job.k .. '|' .. from
      if redis.call('HINCRBY', KEYCOUNT, field, '-1') <= 0 then redis.call('HDEL', KEYCOUNT, field) end
    end
    if to then redis.call('HINCRBY', KEYCOUNT, job.k .. '|' .. to, '1') end
  end
  job.st = to
end

-- ---------------------------------------------------------------- limits

-- The limits of a scope ('' for the queue, else a key; a key falls back to '*').
local function limits(scope)
  local q = qmeta()
  local rl, cc
  if scope == '' then
    rl, cc = q.rl, q.cc
  else
    local v = redis.call('HMGET', META, 'rl:' .. scope, 'cc:' .. scope)
    rl, cc = v[1] or q.rl_each, v[2] or q.cc_each
  end
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
    redis.call('HSET', BUCKETS, scope, string.format('%.17g', t) .. ' ' .. NOW_S)
  end
  return t
end

-- Spend one token. A stored bucket gets a timer for when it is full again, when tick()
-- forgets it, so the buckets of keys seen once do not pile up.
local function take(scope, rate, burst)
  if rate then
    local left = tokens(scope, rate, burst) - 1
    redis.call('HSET', BUCKETS, scope, string.format('%.17g', left) .. ' ' .. NOW_S)
    redis.call('ZADD', DUE, int(NOW + math.ceil((burst - left) / rate * 1000000)), 'b' .. scope)
  end
end

-- How many more jobs the scope may start now; when it may have room again if none
-- (nil: unlimited; '+inf': when a lease is released; else a time); and its rate.
local function room(scope)
  local rate, burst, cap = limits(scope)
  local r, wake_at = math.huge, nil
  if cap then
    local used
    if scope == '' then
      used = count('leased')
    else
      used = tonumber(redis.call('HGET', KEYCOUNT, scope .. '|leased') or '0')
    end
    r = cap - used
    if r < 1 then wake_at = '+inf' end
  end
  if rate then
    local t = tokens(scope, rate, burst)
    if math.floor(t) < r then r = math.floor(t) end
    if t < 1 and not wake_at then wake_at = NOW + math.ceil((1 - t) / rate * 1000000) end
  end
  return r, wake_at, rate, burst
end

-- ---------------------------------------------------------------- ready structures
--
-- READY (score: priority; member: 29-char order, then 'j'..id or 'k'..key) holds
-- unkeyed jobs and one entry per key that is not parked, for the key's best job
-- (KEYENTRY remembers it). A key's jobs wait in BASE:kr:<key> (member: order..id).
-- A key without room is parked (PARKED; in DUE too if tokens will bring it back) and
-- holds nothing in READY, so it never blocks other keys and costs no work per dequeue.

local function refresh_key(key)
  local old = redis.call('HGET', KEYENTRY, key)
  if old then redis.call('ZREM', READY, old) end
  local head = {}
  if redis.call('SISMEMBER', PARKED, key) == 0 then
    head = redis.call('ZRANGE', kready(key), '0', '0', 'WITHSCORES')
  end
  if head[1] then
    local entry = string.sub(head[1], 1, 29) .. 'k' .. key
    redis.call('ZADD', READY, head[2], entry)
    redis.call('HSET', KEYENTRY, key, entry)
  elseif old then
    redis.call('HDEL', KEYENTRY, key)
  end
end

local function park(key, wake_at)
  redis.call('SADD', PARKED, key)
  if wake_at ~= '+inf' then redis.call('ZADD', DUE, int(wake_at), 'p' .. key) end
end

local function unpark(key)
  if redis.call('SREM', PARKED, key) == 1 then
    redis.call('ZREM', DUE, 'p' .. key)
    refresh_key(key)
  end
end

local function unpark_all()
  for _, key in ipairs(redis.call('SMEMBERS', PARKED)) do unpark(key) end
end

-- A ready job's place in the ready order: its run time, then its enqueue sequence.
local function ready_order(run_at, job)
  return string.format('%017d%012d', run_at, job.sq)
end

-- Put a job in the ready structures, writing the given fields.
local function push_ready(job, run_at, ...)
  local order = ready_order(run_at, job)
  put(job, ...)
  if job.k then
    local kr = kready(job.k)
    redis.call('ZADD', kr, job.pr, order .. job.id)
    if redis.call('ZRANK', kr, order .. job.id) == 0 then refresh_key(job.k) end
  else
    zadd(READY, job.pr, order .. 'j' .. job.id)
  end
end

-- Take a ready or scheduled job out of the structures that hand it out.
local function unplace(job)
  if job.st == 'scheduled' then
    redis.call('ZREM', DUE, 's' .. job.id)
  elseif job.st == 'ready' then
    local order = ready_order(job.ra, job)
    if job.k then
      redis.call('ZREM', kready(job.k), order .. job.id)
      refresh_key(job.k)
    else
      redis.call('ZREM', READY, order .. 'j' .. job.id)
    end
  end
end

-- Make a job (out of every structure) ready or scheduled to run at run_at, writing
-- the given fields too.
local function place(job, run_at, ...)
  if run_at <= NOW then
    move(job, 'ready')
    push_ready(job, run_at, 'st', 'ready', 'ra', int(run_at), ...)
  else
    move(job, 'scheduled')
    put(job, 'st', 'scheduled', 'ra', int(run_at), ...)
    redis.call('ZADD', DUE, job.ra, 's' .. job.id)
  end
  notify(job)
end

-- Free what a leased job holds: its lease timer (unless the caller moves or already
-- removed it), and its concurrency slot, waking consumers when a limit may have held them
-- back. Only a job leased under a queue limit reads the queue's settings for that: a limit
-- set while jobs were leased wakes no one on their release (the sleepers look again
-- within kanal_redis.backend.BLOCK_MAX).
local function release(job, keep_timer)
  if not keep_timer then redis.call('ZREM', DUE, 'x' .. job.id) end
  local freed = job.cq == '1'
  if job.k and redis.call('SISMEMBER', PARKED, job.k) == 1 then
    unpark(job.k)
    freed = true
  end
  if freed then wake(1) end
end

local function forget(job)
  move(job, nil)
  if job.k then redis.call('ZREM', kjobs(job.k), job.id) end
  redis.call('DEL', job.jk)
end

-- Delete a job and every trace of it.
local function drop(job)
  if job.st == 'leased' then
    release(job)
  elseif FINAL[job.st] then
    redis.call('ZREM', DUE, 'x' .. job.id)
  else
    unplace(job)
  end
  notify(job)
  forget(job)
end

-- Move a job to a final state, writing the given fields too; keep it ttl microseconds
-- (nil: until purged; 0: delete it now, the table still holding it for the reply).
local function finish(job, state, at, ttl, settled_by, ...)
  if job.st == 'leased' then release(job, ttl and ttl > 0) else unplace(job) end
  notify(job)
  if ttl == 0 then
    forget(job)
    local fields = {'st', state, 'fa', int(at), ...}
    for i = 1, #fields, 2 do job[fields[i]] = fields[i + 1] end
    return
  end
  move(job, state)
  if settled_by then
    put(job, 'st', state, 'fa', int(at), 'sb', settled_by, ...)
  else
    put(job, 'st', state, 'fa', int(at), ...)
  end
  if ttl then zadd(DUE, int(NOW + ttl), 'x' .. job.id) end
end

-- ---------------------------------------------------------------- time

-- Apply what time alone has changed: promote due jobs, reclaim expired leases, forget
-- finished jobs past their TTL, unpark keys whose tokens are back. Bounded per call. What
-- it changes is written when it returns, even in a batch.
local function tick()
  settle()
  local promoted, reclaimed, dead = 0, 0, 0
  local due = redis.call('ZRANGEBYSCORE', DUE, '-inf', NOW_S, 'WITHSCORES', 'LIMIT', '0', TICK)
  if #due == 0 then return {0, 0, 0} end
  local members = {}
  for i = 1, #due, 2 do members[#members + 1] = due[i] end
  redis.call('ZREM', DUE, unpack(members))
  for i = 1, #due, 2 do
    local member, at = due[i], tonumber(due[i + 1])
    local kind, name = string.sub(member, 1, 1), string.sub(member, 2)
    if kind == 'p' then
      unpark(name)
    elseif kind == 'b' then
      local rate, burst = limits(name)
      local left = tokens(name, rate, burst)
      if left < burst then
        redis.call('ZADD', DUE, int(NOW + math.ceil((burst - left) / rate * 1000000)), member)
      end
    else
      local job = load(name, TIMED)
      if not job then
        -- nothing left to do
      elseif kind == 's' and job.st == 'scheduled' then
        move(job, 'ready')
        push_ready(job, tonumber(job.ra), 'st', 'ready')
        notify(job)
        promoted = promoted + 1
      elseif kind == 'x' and job.st == 'leased' then
        local ma, attempts = num(job.ma or nil), tonumber(job.at)
        if ma and attempts >= ma then
          finish(job, 'dead', at, nil, nil, 'le', 'lease expired (attempt ' .. attempts .. ' of ' .. ma .. ')')
          dead = dead + 1
        else
          release(job, true)
          place(job, at, 'le', 'lease expired')
          reclaimed = reclaimed + 1
        end
      elseif kind == 'x' and FINAL[job.st] then
        notify(job)
        forget(job)
      end
    end
  end
  settle()
  return {promoted, reclaimed, dead}
end

-- ---------------------------------------------------------------- leases

-- The job a lease names if the lease still holds it (or, with replay, already settled
-- it as that state); else a KANAL error naming why the lease is stale. Scripts that
-- settle leases need not tick() first: anything but a current lease makes this tick.
-- columns: what to load of the job (default: all).
local function held(id, token, replay, columns)
  local job = load(id, columns)
  if job and (job.st ~= 'leased' or tonumber(job.lx) <= NOW) then
    tick()
    job = load(id, columns)
  end
  if not job then raise('GONE') end
  if job.tk ~= token then raise('REDELIVERED') end
  if job.st == 'leased' then return job end
  if replay and job.st == replay then
    if columns then
      local v = redis.call('HMGET', job.jk, 'sb', 'fa', 'r')
      job.sb, job.fa, job.r = v[1], v[2], v[3]
    end
    if job.sb == token then return job end
  end
  raise('NOTHELD', job.st)
end

-- held() for bulk calls: the job, or nil and the error text.
local function held_or_stale(id, token, replay, columns)
  local ok, job = pcall(held, id, token, replay, columns)
  if ok then return job, nil end
  if type(job) == 'table' then return nil, job.err end
  return nil, job
end

-- What a lease's reply carries after the id.
local LEASE_REPLY = {'p', 'pr', 'k', 'at', 'ma', 'lt', 'ra', 'ea', 'fd', 'ld', 'le', 'tk', 'lx'}

local function lease(job, lease_us, token)
  local expires = NOW + tonumber(job.lt)
  if lease_us > 0 then expires = NOW + lease_us end
  move(job, 'leased')
  local fields = {'st', 'leased', 'at', int(tonumber(job.at) + 1), 'tk', token, 'lx', int(expires), 'ld', NOW_S}
  local n = 10
  if not job.fd then
    fields[n + 1], fields[n + 2], n = 'fd', NOW_S, n + 2
  end
  -- cq: whether releasing the job frees a slot of a queue limit (see release()).
  if qmeta().cc then
    fields[n + 1], fields[n + 2] = 'cq', '1'
  elseif job.cq == '1' then
    fields[n + 1], fields[n + 2] = 'cq', '0'
  end
  put(job, unpack(fields))
  zadd(DUE, job.lx, 'x' .. job.id)
  notify(job)
  local r = {job.id}
  for i, f in ipairs(LEASE_REPLY) do r[i + 1] = job[f] or false end
  return r
end

-- Lease up to limit jobs by priority then order, within every limit; a key without
-- room is parked on the way. token_base .. n makes each lease's token. Returns a lease
-- reply per job: its id, then LEASE_REPLY's fields.
local function dequeue(limit, lease_us, token_base)
  local out = {}
  if qmeta().paused then return out end
  local budget, _, qrate, qburst = room('')
  budget = math.min(limit, budget)
  local steps = budget + 1000
  local own = batch()
  local function take_job(job)
    out[#out + 1] = lease(job, lease_us, token_base .. #out)
    take('', qrate, qburst)
  end
  while #out < budget and steps > 0 do
    local heads = redis.call('ZPOPMIN', READY, int(budget - #out))
    if #heads == 0 then break end
    for i = 1, #heads, 2 do
      steps = steps - 1
      local head = heads[i]
      if string.sub(head, 30, 30) == 'j' then
        local job = load(string.sub(head, 31))
        if job then take_job(job) end
      else
        local key = string.sub(head, 31)
        redis.call('HDEL', KEYENTRY, key)
        local r, wake_at, rate, burst = room(key)
        local top = r >= 1 and redis.call('ZPOPMIN', kready(key))[1]
        if top then
          take_job(load(string.sub(top, 30)))
          take(key, rate, burst)
          refresh_key(key)
        elseif r >= 1 then
          refresh_key(key)
        else
          park(key, wake_at)
        end
        -- The key's next job may now come before the heads popped after it: put them back.
        local rest = {}
        for j = i + 2, #heads, 2 do
          rest[#rest + 1] = heads[j + 1]
          rest[#rest + 1] = heads[j]
        end
        if #rest > 0 then redis.call('ZADD', READY, unpack(rest)) end
        break
      end
    end
  end
  if own then flush() end
  return out
end

-- For a client about to block up to block_us when a dequeue found nothing: register it as
-- a sleeper (until then, changes push a wake-up token onto WAKE), and say when time alone
-- may let a dequeue lease: us from now (0: now; -1: only another client can change it).
local function sleep_until(block_us)
  local until_us = NOW + block_us
  local sleep = num(qmeta().sleep or nil)
  if not sleep or sleep < until_us then
    redis.call('HSET', META, 'sleep', int(until_us))
    QM.sleep = int(until_us)
  end
  if qmeta().paused then return -1 end
  local r, wake_at = room('')
  if r < 1 then
    if wake_at == '+inf' then return -1 end
    return math.max(wake_at - NOW, 1000)
  end
  if redis.call('ZCARD', READY) > 0 then return 0 end
  local head = redis.call('ZRANGE', DUE, '0', '0', 'WITHSCORES')[2]
  if not head then return -1 end
  return math.max(tonumber(head) - NOW, 1000)
end

-- Complete leased jobs. items: {id, token, result or false}; returns a reply per item:
-- {1, finished at} for a job it completed, {1, finished at, stored result or false} for
-- one this token had completed already (a replay), or {0, why the lease is stale}. The
-- client knows the rest of the job from its lease.
local function ack(items, ttl)
  local out = {}
  local own = batch()
  for i, item in ipairs(items) do
    local job, stale = held_or_stale(item[1], item[2], 'completed', SETTLING)
    if not job then
      out[i] = {0, stale}
    elseif job.st == 'leased' then
      if item[3] then
        finish(job, 'completed', NOW, ttl, item[2], 'r', item[3])
      else
        finish(job, 'completed', NOW, ttl, item[2])
      end
      out[i] = {1, job.fa}
    else
      out[i] = {1, job.fa, job.r or false}
    end
  end
  if own then flush() end
  return out
end
