-- Put one triaged message onto its ticket, atomically and idempotently: thread it onto the
-- open ticket of its conversation (reopening a recently resolved one) or open a new ticket
-- and enqueue it on its skill. Replaying the same message (a worker crashed before XACK) is a
-- no-op that returns the ticket it went to.
-- ARGV[1]  prefix            ARGV[2]  message id        ARGV[3]  message JSON
-- ARGV[4]  channel           ARGV[5]  account           ARGV[6]  customer id
-- ARGV[7]  JSON list of thread keys to look up (references first, own key last)
-- ARGV[8]  own thread key ('' = none: thread by customer + channel + account)
-- ARGV[9]  ticket ref from the subject ('' = none)
-- ARGV[10] now (epoch s)     ARGV[11] reopen window (s)
-- ARGV[12] subject           ARGV[13] skill             ARGV[14] priority ("P1".."P4")
-- ARGV[15] triage JSON       ARGV[16] queue score       ARGV[17] high risk ('1'/'0')
-- ARGV[18] risk reasons (text, for the review queue)
-- Returns {outcome, ticket id}; outcome is 'new', 'append', 'reopen' or 'replay'.
local p = ARGV[1]
local mid = ARGV[2]
local msgkey = p .. 'msg:' .. mid
local existing = redis.call('HGET', msgkey, 'ticket')
if existing then
  return {'replay', existing}
end
local channel, account, cid = ARGV[4], ARGV[5], ARGV[6]
local now = tonumber(ARGV[10])
local thread_prefix = p .. 'thread:' .. channel .. ':' .. account .. ':'
local custchan = p .. 'custchan:' .. cid .. ':' .. channel .. ':' .. account

local tid = false
for _, k in ipairs(cjson.decode(ARGV[7])) do
  tid = redis.call('GET', thread_prefix .. k)
  if tid then break end
end
if not tid and ARGV[9] ~= '' then
  -- a ticket number quoted in a subject only counts for the same customer
  if redis.call('HGET', p .. 'ticket:' .. ARGV[9], 'customer_id') == cid then tid = ARGV[9] end
end
if not tid and ARGV[8] == '' then
  tid = redis.call('GET', custchan)
end

local outcome = 'append'
if tid then
  local status = redis.call('HGET', p .. 'ticket:' .. tid, 'status')
  if status == 'resolved' or status == 'closed' then
    local resolved_at = tonumber(redis.call('HGET', p .. 'ticket:' .. tid, 'resolved_at') or '0')
    if now - resolved_at <= tonumber(ARGV[11]) then
      outcome = 'reopen'
    else
      tid = false
    end
  elseif not status then
    tid = false
  end
end

local tkey
if not tid then
  outcome = 'new'
  tid = 'DG-' .. redis.call('INCR', p .. 'ticket:seq')
  tkey = p .. 'ticket:' .. tid
  redis.call('HSET', tkey, 'id', tid, 'status', 'open', 'channel', channel, 'account', account,
             'customer_id', cid, 'subject', ARGV[12], 'skill', ARGV[13], 'priority', ARGV[14],
             'triage', ARGV[15], 'created_at', ARGV[10], 'updated_at', ARGV[10],
             'queue_score', ARGV[16])
  redis.call('ZADD', p .. 'tickets', now, tid)
  redis.call('ZADD', p .. 'cust:' .. cid .. ':tickets', now, tid)
  redis.call('ZADD', p .. 'q:' .. ARGV[13], ARGV[16], tid)
  redis.call('SADD', p .. 'skills', ARGV[13])
else
  tkey = p .. 'ticket:' .. tid
  redis.call('HSET', tkey, 'updated_at', ARGV[10], 'triage', ARGV[15])
  if outcome == 'reopen' then
    local skill = redis.call('HGET', tkey, 'skill')
    local score = redis.call('HGET', tkey, 'queue_score')
    redis.call('HSET', tkey, 'status', 'open', 'assignee', '')
    redis.call('HDEL', tkey, 'resolved_at')
    redis.call('ZADD', p .. 'q:' .. skill, score, tid)
  elseif redis.call('HGET', tkey, 'status') == 'pending' then
    -- the customer answered: the ticket needs us again
    local assignee = redis.call('HGET', tkey, 'assignee')
    redis.call('HSET', tkey, 'status', (assignee and assignee ~= '') and 'assigned' or 'open')
  end
end

redis.call('HSET', msgkey, 'ticket', tid, 'json', ARGV[3])
redis.call('RPUSH', tkey .. ':msgs', mid)
for _, k in ipairs(cjson.decode(ARGV[7])) do
  redis.call('SET', thread_prefix .. k, tid)
end
redis.call('SET', custchan, tid)
if ARGV[17] == '1' and redis.call('ZSCORE', p .. 'review', tid) == false then
  redis.call('ZADD', p .. 'review', now, tid)
  redis.call('HSET', tkey, 'review_reasons', ARGV[18])
end
return {outcome, tid}
