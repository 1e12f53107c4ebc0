-- Push mode (the workload balancer): give the head ticket of a queue to the least-loaded
-- eligible online agent, atomically. Eligible: has the skill at the queue's level, is online,
-- holds fewer tickets than their capacity. Ties go to the agent who waited longest since
-- their last assignment, so agents with the same skills share the work evenly.
-- Keys: queue (KEYS[1]), skill_agents, agent, agent_tickets, ticket, leases, audit,
--       ticket_history
-- ARGV[1] prefix (for K), ARGV[2] queue name ("skill" or "skill@level"), ARGV[3] now, ARGV[4] lease s
-- Returns {'ok', ticket id, agent id} | {'empty', '', ''} | {'no_agent', '', ''}
local queue = ARGV[2]
local top = redis.call('ZRANGE', KEYS[1], 0, 0)
if not top[1] then return {'empty', '', ''} end
local at = string.find(queue, '@', 1, true)
local skill = at and string.sub(queue, 1, at - 1) or queue
local need = at and tonumber(string.sub(queue, at + 1)) or 1
local best, best_load, best_last = false, false, false
for _, id in ipairs(redis.call('SMEMBERS', K.skill_agents(skill))) do
  local a = redis.call('HMGET', K.agent(id), 'skills', 'capacity', 'status', 'last_assigned')
  if a[1] and a[3] == 'online' then
    local level = cjson.decode(a[1])[skill]
    local cap = tonumber(a[2])
    local held = redis.call('SCARD', K.agent_tickets(id))
    if level and tonumber(level) >= need and held < cap then
      local load, last = held / cap, tonumber(a[4] or '0')
      if not best or load < best_load or (load == best_load and (last < best_last
          or (last == best_last and id < best))) then
        best, best_load, best_last = id, load, last
      end
    end
  end
end
if not best then return {'no_agent', '', ''} end
redis.call('ZREM', KEYS[1], top[1])
assign(top[1], best, ARGV[3], ARGV[4], 'system', 'push', 'open')
return {'ok', top[1], best}
