-- The survey of a resolved ticket on the customer's channel, one step per offer: written to
-- the ticket's thread and the outbox exactly as an agent's reply is (_lib's queue_reply), at most once
-- ever per ticket (the reply id is fixed per ticket: a replay finds it stored), with the offer
-- acknowledged (its stream entry, its delayed copy) in the same step.
-- Keys: reply (KEYS[1]), ticket (KEYS[2]), ticket_replies (KEYS[3]), outbox (KEYS[4]),
--       csat_offers (KEYS[5]), csat_due (KEYS[6]), customer (KEYS[7]), audit, ticket_history
-- ARGV[1] prefix (for K)  ARGV[2] ticket id  ARGV[3] reply id  ARGV[4] now
-- ARGV[5] mode: 'send' | 'defer' (not due yet: keep it in csat_due until ARGV[8])
--              | 'skip' (no survey: ARGV[8] says why)
-- ARGV[6] offers entry id ('' when it came from csat_due)  ARGV[7] group  ARGV[8] due / reason
-- ARGV[9] link token (the csat_due member)  ARGV[10] the OutboundMessage as JSON ('send')
-- ARGV[11] seconds to wait before looking again at a ticket reopened before its survey
-- Returns 'ok' | 'replay' | 'deferred' | 'skipped' | 'missing' | 'opted_out' | 'open'
local tid, rid, now, mode = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local function done()
  if ARGV[6] ~= '' then redis.call('XACK', KEYS[5], ARGV[7], ARGV[6]) end
  redis.call('ZREM', KEYS[6], ARGV[9])
end
if mode == 'defer' then
  redis.call('ZADD', KEYS[6], 'NX', ARGV[8], ARGV[9])
  if ARGV[6] ~= '' then redis.call('XACK', KEYS[5], ARGV[7], ARGV[6]) end
  return 'deferred'
end
if redis.call('EXISTS', KEYS[1]) == 1 then done() return 'replay' end
local t = redis.call('HMGET', KEYS[2], 'status', 'customer_id')
if not t[1] then done() return 'missing' end
local why = mode == 'skip' and ARGV[8] or nil
if not why and redis.call('HEXISTS', KEYS[7], 'csat_opt_out') == 1 then
  why = 'the customer asked for no surveys'
end
if why then
  done()
  if redis.call('HSETNX', KEYS[2], 'csat_skipped', why) == 1 then
    audit(now, 'auto', 'csat_skipped', tid, '', '', why)
  end
  return why == ARGV[8] and 'skipped' or 'opted_out'
end
if t[1] ~= 'resolved' and t[1] ~= 'closed' then
  -- reopened before its survey went out: the survey waits for the next resolution
  redis.call('ZADD', KEYS[6], tonumber(now) + tonumber(ARGV[11]), ARGV[9])
  if ARGV[6] ~= '' then redis.call('XACK', KEYS[5], ARGV[7], ARGV[6]) end
  return 'open'
end
queue_reply(rid, tid, ARGV[10], now)
redis.call('HSET', KEYS[2], 'csat_sent_at', now)
audit(now, 'auto', 'csat_sent', tid, '', 'queued', rid)
done()
return 'ok'
