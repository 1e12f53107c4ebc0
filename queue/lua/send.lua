-- The sender workers' bookkeeping of one reply, each step atomic with the acknowledgement of
-- its outbox entry, so that a crash between two steps replays the entry and never loses it.
-- States only move forward (queued 0 < sent 1 < delivered 2 < read 3 < failed 4).
-- Keys: reply (KEYS[1]), provider_message (KEYS[2]), outbox_delay (KEYS[2], KEYS[1] in due),
--       outbox (KEYS[2] to KEYS[3]), outbox_dead (KEYS[4]); each op's own layout below
-- ARGV[1] op, then per op:
--   begin    KEYS reply                       ARGV now
--            -> {'send', attempt, json} | {'done', state} | {'gone', ''}
--            marks the attempt before the provider is called: a worker killed after this and
--            before 'sent' leaves the entry pending, and its replay sends at most once more
--   sent     KEYS reply, provider index, outbox   ARGV now, entry id, provider id, state, ttl
--   retry    KEYS reply, delay zset, outbox, dead ARGV now, entry id, reason, due, max attempts
--            -> {'later', attempts} | {'dead', attempts}
--   fail     KEYS reply, outbox               ARGV now, entry id, reason
--   due      KEYS delay zset, outbox          ARGV now, limit -> reply ids put back on the outbox
--   advance  KEYS reply                       ARGV now, state, reason (a status callback)
local GROUP = 'send'
local RANK = {queued = 0, sent = 1, delivered = 2, read = 3, failed = 4}
local op, ts = ARGV[1], ARGV[2]

-- the reply is KEYS[1] in every op that calls this
local function forward(state, reason)
  local cur = redis.call('HGET', KEYS[1], 'state')
  if not cur then return 'gone' end
  if RANK[state] <= RANK[cur] then return cur end
  redis.call('HSET', KEYS[1], 'state', state, 'updated_at', ts, state .. '_at', ts)
  if reason and reason ~= '' then redis.call('HSET', KEYS[1], 'reason', reason) end
  return state
end

if op == 'begin' then
  local r = redis.call('HMGET', KEYS[1], 'state', 'json')
  if not r[1] then return {'gone', ''} end
  if r[1] ~= 'queued' then return {'done', r[1]} end
  local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  redis.call('HSET', KEYS[1], 'sending_at', ts)
  return {'send', n, r[2]}

elseif op == 'sent' then
  redis.call('HSET', KEYS[1], 'provider_id', ARGV[4])
  redis.call('HDEL', KEYS[1], 'sending_at')
  if ARGV[4] ~= '' then redis.call('SET', KEYS[2], redis.call('HGET', KEYS[1], 'rid') or '', 'EX', ARGV[6]) end
  local state = forward(ARGV[5], '')
  redis.call('XACK', KEYS[3], GROUP, ARGV[3])
  return {'ok', state}

elseif op == 'retry' then
  local n = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
  redis.call('HDEL', KEYS[1], 'sending_at')
  redis.call('HSET', KEYS[1], 'last_error', ARGV[4], 'updated_at', ts)
  redis.call('XACK', KEYS[3], GROUP, ARGV[3])
  local rid = redis.call('HGET', KEYS[1], 'rid')
  if n >= tonumber(ARGV[6]) then
    forward('failed', ARGV[4])
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', 100000, '*', 'r', rid, 'reason', ARGV[4],
               'attempts', n)
    return {'dead', n}
  end
  redis.call('ZADD', KEYS[2], ARGV[5], rid)
  return {'later', n}

elseif op == 'fail' then
  redis.call('HDEL', KEYS[1], 'sending_at')
  local state = forward('failed', ARGV[4])
  redis.call('XACK', KEYS[2], GROUP, ARGV[3])
  return {'ok', state}

elseif op == 'due' then
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ts, 'LIMIT', 0, tonumber(ARGV[3]))
  for _, rid in ipairs(ids) do
    redis.call('ZREM', KEYS[1], rid)
    redis.call('XADD', KEYS[2], '*', 'r', rid)
  end
  return ids

elseif op == 'advance' then
  return {'ok', forward(ARGV[3], ARGV[4])}
end
return redis.error_reply('unknown op ' .. op)
