-- Find or create the one customer behind each message's identities, for a whole batch in one
-- atomic step, so that two workers seeing the same new customer at once cannot create two.
-- Keys: identities (KEYS[1]), customer_seq, customer, customer_ids, customer_claims,
--       customer_tickets
-- ARGV[1] = key prefix (for K), ARGV[2] = now (epoch s), ARGV[3] = risk window start (epoch s),
-- ARGV[4] = JSON list, one item per message:
--           [display name, [verified identity key, …], [claimed identity key, …]]
--           (identity key = "email:a@b.c", "phone:+86…", "platform:wechat:main:openid", …)
-- Every verified identity not yet known is linked to the customer found (cross-channel merge
-- by a shared email / phone / platform id). An identity already linked to another customer
-- keeps its link: merging two existing customers is a person's decision, not the worker's.
-- Claimed identities (typed by the customer, checked by nobody) are only recorded in the
-- customer's claims set: they never find a customer and never enter the index, or a stranger
-- could join, or pre-claim, anyone's record by typing their address.
-- Returns one {customer id, tier, tickets created since the window start} per message.
local out = {}
for n, item in ipairs(cjson.decode(ARGV[4])) do
  local name, idents, claims = item[1], item[2], item[3] or {}
  local cid = false
  for _, ident in ipairs(idents) do
    cid = redis.call('HGET', KEYS[1], ident)
    if cid then break end
  end
  local ckey
  if not cid then
    cid = 'c_' .. redis.call('INCR', K.customer_seq())
    ckey = K.customer(cid)
    redis.call('HSET', ckey, 'id', cid, 'name', name, 'tier', 'standard', 'created_at', ARGV[2])
  else
    ckey = K.customer(cid)
  end
  for _, ident in ipairs(idents) do
    if redis.call('HSETNX', KEYS[1], ident, cid) == 1 then
      redis.call('SADD', K.customer_ids(cid), ident)
    end
  end
  for _, ident in ipairs(claims) do
    if redis.call('HGET', KEYS[1], ident) ~= cid then
      redis.call('SADD', K.customer_claims(cid), ident)
    end
  end
  if name ~= '' then redis.call('HSETNX', ckey, 'name', name) end
  local tier = redis.call('HGET', ckey, 'tier') or 'standard'
  out[n] = {cid, tier, redis.call('ZCOUNT', K.customer_tickets(cid), ARGV[3], '+inf')}
end
return out
