-- Put a batch of triaged messages onto their tickets, atomically and idempotently: each one is
-- threaded onto the open ticket of its conversation (reopening a recently resolved one) or
-- opens a new ticket that enters its skill queue. Replaying a message (a worker crashed before
-- XACK) is a no-op that returns the ticket it went to. One call per batch: the per-command
-- cost of the client dominated when this was one call per message.
-- ARGV[1] prefix   ARGV[2] now (epoch s)   ARGV[3] reopen window (s)
-- ARGV[4] JSON list, one item per message:
--   [message id, channel, account, customer id, [thread keys to look up: references first,
--    own key last], own thread key ('' = thread by customer + channel + account),
--    ticket ref from the subject ('' = none), subject, skill, priority, queue score,
--    high risk (true/false), risk reasons (text), sender verified (true/false),
--    claimed email address ('' = none), urgent risk (true/false: self-harm)]
-- An unverified sender (email whose From could not be proven) threads only onto the ticket of
-- a mail we sent to that very address (references looked up in sent:<address>); otherwise it
-- opens a new ticket marked unverified_sender, and it never moves another message's thread
-- keys. The ticket ref (already MAC-checked by the caller) counts for verified senders only.
-- ARGV[5] review score offset: an urgent ticket enters the review queue at now - offset, ahead
--   of every other item (the queue is oldest first); an urgent message on a ticket already in
--   review moves it there.
-- ARGV[6 + 2i], ARGV[7 + 2i] = message JSON and triage JSON of item i (0-based), passed as
--   separate arguments so they are stored byte for byte, never re-encoded here.
-- Returns one {outcome, ticket id} per message; outcome is new | append | reopen | replay.
local p, now, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local urgent_offset = tonumber(ARGV[5])
local out = {}

local function find_ticket(it)
  local channel, account, cid = it[2], it[3], it[4]
  if not it[14] then
    if it[15] == '' then return false end
    for _, k in ipairs(it[5]) do
      local tid = redis.call('HGET', p .. 'sent:' .. it[15], k)
      if tid then return tid end
    end
    return false
  end
  local thread_prefix = p .. 'thread:' .. channel .. ':' .. account .. ':'
  for _, k in ipairs(it[5]) do
    local tid = redis.call('GET', thread_prefix .. k)
    if tid then return tid end
  end
  -- a ticket number quoted in a subject only counts for the same customer
  if it[7] ~= '' and redis.call('HGET', p .. 'ticket:' .. it[7], 'customer_id') == cid then
    return it[7]
  end
  if it[6] == '' then
    return redis.call('GET', p .. 'custchan:' .. cid .. ':' .. channel .. ':' .. account)
  end
  return false
end

for n, it in ipairs(cjson.decode(ARGV[4])) do
  local mid = it[1]
  local msg_json, triage_json = ARGV[4 + 2 * n], ARGV[5 + 2 * n]
  local msgkey = p .. 'msg:' .. mid
  local existing = redis.call('HGET', msgkey, 'ticket')
  -- the message index is the permanent duplicate check from now on (ingest.lua)
  redis.call('DEL', p .. 'seen:' .. mid)
  if existing then
    out[n] = {'replay', existing}
  else
    local channel, account, cid = it[2], it[3], it[4]
    local skill, priority, score = it[9], it[10], it[11]
    local tid = find_ticket(it)
    local outcome = 'append'
    if tid then
      local t = redis.call('HMGET', p .. 'ticket:' .. tid, 'status', 'resolved_at')
      if t[1] == 'resolved' or t[1] == 'closed' then
        if now - tonumber(t[2] or '0') <= window then outcome = 'reopen' else tid = false end
      elseif not t[1] then
        tid = false
      end
    end
    local tkey
    if not tid then
      outcome = 'new'
      tid = 'DG-' .. redis.call('INCR', p .. 'ticket:seq')
      tkey = p .. 'ticket:' .. tid
      redis.call('HSET', tkey, 'id', tid, 'status', 'open', 'channel', channel,
                 'account', account, 'customer_id', cid, 'subject', it[8], 'skill', skill,
                 'priority', priority, 'triage', triage_json, 'created_at', ARGV[2],
                 'updated_at', ARGV[2], 'queue_score', score)
      if not it[14] then redis.call('HSET', tkey, 'unverified_sender', '1') end
      redis.call('ZADD', p .. 'tickets', now, tid)
      redis.call('ZADD', p .. 'cust:' .. cid .. ':tickets', now, tid)
      redis.call('ZADD', p .. 'q:' .. skill, score, tid)
      redis.call('SADD', p .. 'skills', skill)
    else
      tkey = p .. 'ticket:' .. tid
      redis.call('HSET', tkey, 'updated_at', ARGV[2], 'triage', triage_json)
      local status = redis.call('HGET', tkey, 'status')
      if outcome == 'reopen' then
        local t = redis.call('HMGET', tkey, 'skill', 'queue_score')
        redis.call('HSET', tkey, 'status', 'open', 'assignee', '')
        redis.call('HDEL', tkey, 'resolved_at')
        redis.call('ZADD', p .. 'q:' .. t[1], t[2], tid)
      elseif status == 'pending' then
        -- the customer answered: the ticket needs us again
        local assignee = redis.call('HGET', tkey, 'assignee')
        redis.call('HSET', tkey, 'status', (assignee and assignee ~= '') and 'assigned' or 'open')
      end
    end
    redis.call('HSET', msgkey, 'ticket', tid, 'json', msg_json)
    redis.call('RPUSH', tkey .. ':msgs', mid)
    local thread_prefix = p .. 'thread:' .. channel .. ':' .. account .. ':'
    if it[14] then
      for _, k in ipairs(it[5]) do redis.call('SET', thread_prefix .. k, tid) end
      redis.call('SET', p .. 'custchan:' .. cid .. ':' .. channel .. ':' .. account, tid)
    elseif it[6] ~= '' then
      redis.call('SET', thread_prefix .. it[6], tid, 'NX')
    end
    if it[12] then
      local since = redis.call('ZSCORE', p .. 'review', tid)
      if it[16] and (since == false or tonumber(since) >= 0) then
        redis.call('ZADD', p .. 'review', now - urgent_offset, tid)
        redis.call('HSET', tkey, 'review_reasons', it[13])
      elseif since == false then
        redis.call('ZADD', p .. 'review', now, tid)
        redis.call('HSET', tkey, 'review_reasons', it[13])
      end
    end
    out[n] = {outcome, tid}
  end
end
return out
