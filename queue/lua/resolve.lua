-- Resolve a ticket: only its assignee, or a manager/admin (ARGV[4] = '1'), may; the lease,
-- the agent's slot and any queue entry are released in the same step.
-- ARGV[1] prefix, ARGV[2] ticket id, ARGV[3] actor, ARGV[4] privileged ('1'/'0'),
-- ARGV[5] now, ARGV[6] correction JSON ('' = none)
-- Returns {'ok', previous status} | {'missing', ''} | {'forbidden', assignee} | {'done', status}
local p, tid, actor = ARGV[1], ARGV[2], ARGV[3]
local tkey = p .. 'ticket:' .. tid
local t = redis.call('HMGET', tkey, 'status', 'assignee', 'skill')
if not t[1] then return {'missing', ''} end
if t[1] == 'resolved' or t[1] == 'closed' then return {'done', t[1]} end
local assignee = t[2] or ''
if ARGV[4] ~= '1' and assignee ~= actor then return {'forbidden', assignee} end
redis.call('ZREM', p .. 'lease', tid)
redis.call('ZREM', p .. 'q:' .. t[3], tid)
if assignee ~= '' then redis.call('SREM', p .. 'agent:' .. assignee .. ':tickets', tid) end
redis.call('HSET', tkey, 'status', 'resolved', 'resolved_at', ARGV[5], 'updated_at', ARGV[5],
           'resolved_by', actor)
if ARGV[6] ~= '' then redis.call('HSET', tkey, 'correction', ARGV[6]) end
redis.call('XADD', p .. 'audit', 'MAXLEN', '~', 1000000, '*', 'ts', ARGV[5], 'actor', actor,
           'action', 'resolve', 'ticket', tid, 'before', t[1], 'after', 'resolved')
return {'ok', t[1]}
