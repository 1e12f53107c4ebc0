-- Act on every SLA deadline that has passed: a warning notifies the team's managers; a breach
-- also raises the priority, moves the ticket to its escalation queue (if its policy names one)
-- and puts it in the managers' review queue. Timers of resolved, pending or already answered
-- tickets are stale and dropped. Notifications go to the {p}notify stream, delivered (and
-- retried) by gateway/workers/notify.py, so nothing is sent from inside Redis and nothing is lost.
-- Keys: sla_due (KEYS[1]), ticket, notify, review, queue, skills, leases, agent_tickets,
--       audit, ticket_history
-- ARGV[1] prefix (for K), ARGV[2] now, ARGV[3] most timers per call, ARGV[4] JSON priority boosts
-- Returns {timers taken, warnings, breaches}
local now = ARGV[2]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[3])
if #due == 0 then return {0, 0, 0} end
redis.call('ZREM', KEYS[1], unpack(due))
local boosts = cjson.decode(ARGV[4])
local warned, breached = 0, 0
local names = {frt = 'first response', res = 'resolution'}
for _, member in ipairs(due) do
  local tid, kind, stage = string.match(member, '^(.*)|(%a+)|(%a+)$')
  local tkey = K.ticket(tid)
  local t = redis.call('HMGET', tkey, 'status', 'frt_done', 'team', 'sla_escalate_to',
                       'priority', 'assignee', 'frt_due', 'res_due')
  local live = (t[1] == 'open' or t[1] == 'assigned') and not (kind == 'frt' and t[2])
  if live then
    local deadline = kind == 'frt' and t[7] or t[8]
    redis.call('XADD', K.notify(), 'MAXLEN', '~', 1000000, '*', 'kind', stage,
               'ticket', tid, 'timer', kind, 'team', t[3] or '', 'priority', t[5] or '',
               'assignee', t[6] or '', 'deadline', deadline or '', 'ts', now)
    if stage == 'warn' then
      warned = warned + 1
      redis.call('HSET', tkey, 'sla_warned_' .. kind, now)
    else
      breached = breached + 1
      redis.call('HSET', tkey, 'sla_breached_' .. kind, now)
      escalate(tid, now, 'sla', t[4] or '', boosts, 'SLA breach: ' .. names[kind])
      add_review(tid, now, 'SLA breach: ' .. names[kind])
    end
  end
end
return {#due, warned, breached}
