-- Start (or restart) a ticket's SLA clocks and record how it was placed. Idempotent: with
-- ARGV[6] = '1' a ticket whose clocks were started before is left alone, so replaying a
-- message after a crash starts nothing twice.
-- ARGV[1] prefix, ARGV[2] ticket id, ARGV[3] now, ARGV[4] JSON {member: deadline}
-- ("frt|warn" ...), ARGV[5] JSON fields to set (sla_policy, team, sla_escalate_to, ...),
-- ARGV[6] only once ('1'/'0'), ARGV[7] audit action, ARGV[8] audit detail
-- Returns 1 if started, 0 if not.
local p, tid = ARGV[1], ARGV[2]
local tkey = p .. 'ticket:' .. tid
local t = redis.call('HMGET', tkey, 'status', 'sla_started', 'skill')
if not t[1] then return 0 end
if ARGV[6] == '1' and t[2] then return 0 end
redis.call('HSET', tkey, 'sla_started', ARGV[3])
for k, v in pairs(cjson.decode(ARGV[5])) do redis.call('HSET', tkey, k, v) end
if t[1] == 'open' or t[1] == 'assigned' then
  for member, due in pairs(cjson.decode(ARGV[4])) do
    redis.call('ZADD', p .. 'sla:due', due, tid .. '|' .. member)
  end
end
audit(p, ARGV[3], 'system', ARGV[7], tid, '', t[3], ARGV[8])
return 1
