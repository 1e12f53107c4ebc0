-- Start (or restart) the SLA clocks of a batch of tickets and record how each was placed.
-- Idempotent: with ARGV[3] = '1' a ticket whose clocks were started before is left alone, so
-- replaying a message after a crash starts nothing twice. One call per batch of new tickets.
-- Keys: sla_due (KEYS[1]), ticket, audit, ticket_history
-- ARGV[1] prefix (for K), ARGV[2] now, ARGV[3] only once ('1'/'0'), ARGV[4] audit action,
-- ARGV[5] JSON list, one item per ticket: [ticket id, {member: deadline} ("frt|warn" ...),
--         {field: value} to set (sla_policy, team, sla_escalate_to, ...), audit detail]
-- Returns how many tickets' clocks were started.
local now = ARGV[2]
local started = 0
for _, item in ipairs(cjson.decode(ARGV[5])) do
  local tid = item[1]
  local tkey = K.ticket(tid)
  local t = redis.call('HMGET', tkey, 'status', 'sla_started', 'skill')
  if t[1] and not (ARGV[3] == '1' and t[2]) then
    redis.call('HSET', tkey, 'sla_started', now)
    for k, v in pairs(item[3]) do redis.call('HSET', tkey, k, v) end
    if t[1] == 'open' or t[1] == 'assigned' then
      for member, due in pairs(item[2]) do
        redis.call('ZADD', KEYS[1], due, tid .. '|' .. member)
      end
    end
    audit(now, 'system', ARGV[4], tid, '', t[3], item[4])
    started = started + 1
  end
end
return started
