-- Resolve a ticket: only its assignee, or a manager/admin (ARGV[4] = '1'), may; the lease,
-- the agent's slot, any queue entry and the SLA timers are released in the same step. A
-- correction is also appended to the labels stream, where retraining finds it.
-- Keys: ticket (KEYS[1]), leases, agent_tickets, queue, sla_paused, sla_due, labels, audit,
--       ticket_history
-- ARGV[1] prefix (for K), ARGV[2] ticket id, ARGV[3] actor, ARGV[4] privileged ('1'/'0'),
-- ARGV[5] now, ARGV[6] correction JSON ('' = none)
-- Returns {'ok', previous status} | {'missing', ''} | {'forbidden', assignee} | {'done', status}
local tid, actor = ARGV[2], ARGV[3]
local tkey = KEYS[1]
local t = redis.call('HMGET', tkey, 'status', 'assignee', 'skill', 'frt_done')
if not t[1] then return {'missing', ''} end
if t[1] == 'resolved' or t[1] == 'closed' then return {'done', t[1]} end
local assignee = t[2] or ''
if ARGV[4] ~= '1' and assignee ~= actor then return {'forbidden', assignee} end
free(tid, assignee)
redis.call('ZREM', K.queue(t[3]), tid)
redis.call('SREM', K.sla_paused(), tid)
clear_timers(tid, {'frt', 'res'})
-- resolving answers the customer: it counts as the first response when none was recorded
if not t[4] then redis.call('HSET', tkey, 'frt_done', ARGV[5]) end
redis.call('HSET', tkey, 'status', 'resolved', 'resolved_at', ARGV[5], 'updated_at', ARGV[5],
           'resolved_by', actor)
if ARGV[6] ~= '' then
  redis.call('HSET', tkey, 'correction', ARGV[6])
  redis.call('XADD', K.labels(), 'MAXLEN', '~', 1000000, '*', 'ts', ARGV[5], 'ticket', tid,
             'kind', 'correction', 'value', ARGV[6], 'actor', actor)
end
audit(ARGV[5], actor, 'resolve', tid, t[1], 'resolved', ARGV[6])
return {'ok', t[1]}
