-- The customer answered a pending ticket (lua/apply_message.lua moved it back to assigned or
-- open): restart its clocks with the time they had left, and give the agent their lease back.
-- ARGV[1] prefix, ARGV[2] ticket id, ARGV[3] now, ARGV[4] lease seconds,
-- ARGV[5] JSON {member: deadline}
-- Returns 'resumed' | 'pending' (still waiting) | 'gone' (resumed elsewhere or closed)
local p, tid, now = ARGV[1], ARGV[2], ARGV[3]
local tkey = p .. 'ticket:' .. tid
local t = redis.call('HMGET', tkey, 'status', 'assignee')
if t[1] == 'pending' then return 'pending' end
if redis.call('SREM', p .. 'sla:paused', tid) == 0 then return 'gone' end
redis.call('HDEL', tkey, 'sla_remaining')
if t[1] ~= 'open' and t[1] ~= 'assigned' then return 'gone' end
for member, due in pairs(cjson.decode(ARGV[5])) do
  redis.call('ZADD', p .. 'sla:due', due, tid .. '|' .. member)
end
if t[1] == 'assigned' and t[2] and t[2] ~= '' then
  redis.call('ZADD', p .. 'lease', tonumber(now) + tonumber(ARGV[4]), tid)
  redis.call('SADD', p .. 'agent:' .. t[2] .. ':tickets', tid)
end
audit(p, now, 'system', 'customer_replied', tid, 'pending', t[1], '')
return 'resumed'
