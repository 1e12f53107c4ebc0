-- How hard a skill is pressed, for overflow: summed capacity and held tickets of its online
-- agents, the longest wait among the tickets at the head of its queues, and the queue depth.
-- Only the head is looked at: a ticket's score is at most a day of boost below its arrival,
-- so the longest-waiting tickets are near the head, and the cost stays bounded.
-- Keys: skill_agents (KEYS[1]), agent, agent_tickets, queue, ticket
-- ARGV[1] prefix (for K), ARGV[2] skill, ARGV[3] now
-- Returns {capacity, held, oldest wait (s, string), depth}
local skill, now = ARGV[2], tonumber(ARGV[3])
local cap, held = 0, 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local a = redis.call('HMGET', K.agent(id), 'capacity', 'status')
  if a[2] == 'online' then
    cap = cap + tonumber(a[1])
    held = held + redis.call('SCARD', K.agent_tickets(id))
  end
end
local oldest, depth = 0, 0
for l = 1, 5 do
  local q = K.queue(l == 1 and skill or (skill .. '@' .. l))
  depth = depth + redis.call('ZCARD', q)
  for _, tid in ipairs(redis.call('ZRANGE', q, 0, 49)) do
    local created = tonumber(redis.call('HGET', K.ticket(tid), 'created_at') or now)
    if now - created > oldest then oldest = now - created end
  end
end
return {cap, held, tostring(oldest), depth}
