-- The customer answered a pending ticket (lua/apply_message.lua moved it back to assigned or
-- open): restart its clocks with the time they had left, and give the agent their lease back.
-- Keys: ticket (KEYS[1]), sla_paused, sla_due, leases, agent_tickets, audit, ticket_history
-- ARGV[1] prefix (for K), ARGV[2] ticket id, ARGV[3] now, ARGV[4] lease seconds,
-- ARGV[5] JSON {member: deadline}
-- Returns 'resumed' | 'pending' (still waiting) | 'gone' (resumed elsewhere or closed)
local tid, now = ARGV[2], ARGV[3]
local tkey = KEYS[1]
local t = redis.call('HMGET', tkey, 'status', 'assignee')
if t[1] == 'pending' then return 'pending' end
if redis.call('SREM', K.sla_paused(), tid) == 0 then return 'gone' end
redis.call('HDEL', tkey, 'sla_remaining')
if t[1] ~= 'open' and t[1] ~= 'assigned' then return 'gone' end
for member, due in pairs(cjson.decode(ARGV[5])) do
  redis.call('ZADD', K.sla_due(), due, tid .. '|' .. member)
end
if t[1] == 'assigned' and t[2] and t[2] ~= '' then
  redis.call('ZADD', K.leases(), tonumber(now) + tonumber(ARGV[4]), tid)
  redis.call('SADD', K.agent_tickets(t[2]), tid)
end
audit(now, 'system', 'customer_replied', tid, 'pending', t[1], '')
return 'resumed'
