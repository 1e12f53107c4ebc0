-- An agent's reply, in one atomic step: the reply on the ticket's thread (state queued), its
-- entry on the durable outbox stream, the holder's lease renewed, the first response recorded
-- for the SLA clock (lua/_lib.lua first_response, shared with the "respond" action) and the
-- audit entry. A reply id already stored is a retry of the same request: nothing changes.
-- Keys: reply (KEYS[1]), ticket (KEYS[2]), ticket_replies (KEYS[3]), outbox (KEYS[4]),
--       leases (KEYS[5]), auto_answered (KEYS[6]), sla_due, audit, ticket_history;
--       KEYS[6], the once-per-window marker, only for automatic answers
-- ARGV[1] prefix (for K: the _lib helpers name the audit and SLA keys with it)
-- ARGV[2] ticket id  ARGV[3] reply id  ARGV[4] actor  ARGV[5] privileged ('1'/'0')
-- ARGV[6] now  ARGV[7] lease seconds  ARGV[8] the OutboundMessage as JSON
-- ARGV[9] '1' when it is a first response ('0': an automatic acknowledgement is not one)
-- ARGV[10] seconds the KEYS[6] marker holds
-- Returns {'ok', first response time} | {'replay', state} | {'missing', ''}
--         | {'forbidden', assignee} | {'conflict', status} | {'once', ''} (marker held)
local tid, rid, actor, priv, ts = ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6]
local state = redis.call('HGET', KEYS[1], 'state')
if state then return {'replay', state} end
local t = redis.call('HMGET', KEYS[2], 'status', 'assignee')
if not t[1] then return {'missing', ''} end
local status, assignee = t[1], t[2] or ''
if status == 'resolved' or status == 'closed' then return {'conflict', status} end
-- an agent answers the tickets they hold (a pending one keeps its assignee); managers any in scope
local holds = assignee == actor and (status == 'assigned' or status == 'pending')
if not (priv or holds) then return {'forbidden', assignee} end
if KEYS[6] and not redis.call('SET', KEYS[6], rid, 'NX', 'EX', ARGV[10]) then
  return {'once', ''}
end
queue_reply(rid, tid, ARGV[8], ts)
if status == 'assigned' and assignee == actor then
  redis.call('ZADD', KEYS[5], 'XX', tonumber(ts) + tonumber(ARGV[7]), tid)
end
local frt = ''
if ARGV[9] == '1' then frt = first_response(tid, ts, actor) end
redis.call('HSET', KEYS[2], 'updated_at', ts)
audit(ts, actor, 'reply', tid, '', 'queued', rid)
return {'ok', frt}
