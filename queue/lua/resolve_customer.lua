-- Find or create the one customer behind a message's identities, atomically, so that two
-- workers seeing the same new customer at once cannot create two.
-- ARGV[1] = key prefix, ARGV[2] = now (epoch s), ARGV[3] = display name,
-- ARGV[4] = risk window start (epoch s), ARGV[5..] = identity keys ("email:a@b.c", …)
-- Every identity not yet known is linked to the customer found (cross-channel merge by a
-- shared email / phone / platform id). An identity already linked to another customer keeps
-- its link: merging two existing customers is an agent's decision, not the worker's.
-- Returns {customer id, tier, tickets created since the window start}.
local p = ARGV[1]
local cid = false
for i = 5, #ARGV do
  cid = redis.call('HGET', p .. 'ident', ARGV[i])
  if cid then break end
end
if not cid then
  cid = 'c_' .. redis.call('INCR', p .. 'cust:seq')
  redis.call('HSET', p .. 'cust:' .. cid, 'id', cid, 'name', ARGV[3], 'tier', 'standard',
             'created_at', ARGV[2])
end
for i = 5, #ARGV do
  if redis.call('HSETNX', p .. 'ident', ARGV[i], cid) == 1 then
    redis.call('SADD', p .. 'cust:' .. cid .. ':ids', ARGV[i])
  end
end
if ARGV[3] ~= '' then
  redis.call('HSETNX', p .. 'cust:' .. cid, 'name', ARGV[3])
end
local tier = redis.call('HGET', p .. 'cust:' .. cid, 'tier') or 'standard'
local recent = redis.call('ZCOUNT', p .. 'cust:' .. cid .. ':tickets', ARGV[4], '+inf')
return {cid, tier, recent}
