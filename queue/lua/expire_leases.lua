-- Put tickets whose lease ran out back into their skill queue, at their old position (which is
-- at or near the front: they have waited longest), and record it.
-- Keys: leases (KEYS[1]), ticket, agent_tickets, queue, audit, ticket_history
-- ARGV[1] prefix (for K), ARGV[2] now (epoch s), ARGV[3] most tickets to return in one call
-- Returns the ids returned to their queues.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
for _, tid in ipairs(due) do
  local tkey = K.ticket(tid)
  local t = redis.call('HMGET', tkey, 'assignee', 'skill', 'queue_score', 'status')
  redis.call('ZREM', KEYS[1], tid)
  if t[4] == 'assigned' then
    free(tid, t[1])
    redis.call('HSET', tkey, 'status', 'open', 'assignee', '', 'updated_at', ARGV[2])
    redis.call('ZADD', K.queue(t[2]), t[3], tid)
    audit(ARGV[2], 'system', 'lease_expired', tid, 'assigned:' .. (t[1] or ''), 'open', '')
  end
end
return due
