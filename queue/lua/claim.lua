-- An agent takes the best open ticket across all their skills, under a lease, atomically:
-- two agents can never get the same ticket and an agent never exceeds their capacity.
-- "Best" = lowest queue score (priority boost and waiting time folded into one number by
-- queue/scoring.py), so old low-priority tickets age upward instead of starving.
-- ARGV[1] prefix, ARGV[2] agent id, ARGV[3] now (epoch s), ARGV[4] lease seconds
-- Returns {'ok', ticket id} | {'full', held} | {'empty', ''} | {'unknown', ''} | {'offline', ''}
local p, agent, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local akey = p .. 'agent:' .. agent
local a = redis.call('HMGET', akey, 'skills', 'capacity', 'status')
if not a[1] then return {'unknown', ''} end
if a[3] == 'offline' then return {'offline', ''} end
local held = redis.call('SCARD', akey .. ':tickets')
if held >= tonumber(a[2]) then return {'full', tostring(held)} end
local best, best_score, best_skill = false, false, false
for skill, _ in pairs(cjson.decode(a[1])) do
  local top = redis.call('ZRANGE', p .. 'q:' .. skill, 0, 0, 'WITHSCORES')
  if top[1] and (not best_score or tonumber(top[2]) < best_score) then
    best, best_score, best_skill = top[1], tonumber(top[2]), skill
  end
end
if not best then return {'empty', ''} end
redis.call('ZREM', p .. 'q:' .. best_skill, best)
local tkey = p .. 'ticket:' .. best
redis.call('HSET', tkey, 'status', 'assigned', 'assignee', agent, 'claimed_at', ARGV[3],
           'updated_at', ARGV[3])
redis.call('ZADD', p .. 'lease', now + tonumber(ARGV[4]), best)
redis.call('SADD', akey .. ':tickets', best)
redis.call('XADD', p .. 'audit', 'MAXLEN', '~', 1000000, '*', 'ts', ARGV[3], 'actor', agent,
           'action', 'claim', 'ticket', best, 'before', 'open', 'after', 'assigned')
return {'ok', best}
