-- An agent takes the best open ticket across all their skills, under a lease, atomically:
-- two agents can never get the same ticket and an agent never exceeds their capacity.
-- "Best" = lowest queue score (priority boost and waiting time folded into one number by
-- models/scoring.py), so old low-priority tickets age upward instead of starving. An agent
-- with level L on a skill also serves the queues "<skill>@2" .. "<skill>@L".
-- Keys: agent (KEYS[1]), agent_tickets, queue, ticket, leases, audit, ticket_history
-- ARGV[1] prefix (for K), ARGV[2] agent id, ARGV[3] now (epoch s), ARGV[4] lease seconds
-- Returns {'ok', ticket id} | {'full', held} | {'empty', ''} | {'unknown', ''} |
--         {'offline', ''} | {'away', ''}
local agent = ARGV[2]
local akey = KEYS[1]
local a = redis.call('HMGET', akey, 'skills', 'capacity', 'status')
if not a[1] then return {'unknown', ''} end
if a[3] ~= 'online' then return {a[3] == 'away' and 'away' or 'offline', ''} end
local held = redis.call('SCARD', K.agent_tickets(agent))
if held >= tonumber(a[2]) then return {'full', tostring(held)} end
local best, best_score, best_queue = false, false, false
for skill, level in pairs(cjson.decode(a[1])) do
  for l = 1, tonumber(level) do
    local queue = l == 1 and skill or (skill .. '@' .. l)
    local top = redis.call('ZRANGE', K.queue(queue), 0, 0, 'WITHSCORES')
    if top[1] and (not best_score or tonumber(top[2]) < best_score) then
      best, best_score, best_queue = top[1], tonumber(top[2]), queue
    end
  end
end
if not best then return {'empty', ''} end
redis.call('ZREM', K.queue(best_queue), best)
assign(best, agent, ARGV[3], ARGV[4], agent, 'claim', 'open')
return {'ok', best}
