-- What the SLA code needs to know of each ticket, for a whole batch in one call (a pipeline
-- of one HMGET per ticket and one HGET per customer cost more in the client than in Redis).
-- Keys: ticket (KEYS[1..n], one per ticket), customer
-- ARGV[1] prefix (for K), ARGV[2..] the ticket fields wanted; one of them is 'customer_id'
-- Returns one flat list per ticket: the values of the fields asked for, in that order ('' when
-- unset), then the customer's tier.
local fields = {unpack(ARGV, 2)}
local customer_at
for j, name in ipairs(fields) do
  if name == 'customer_id' then customer_at = j end
end
local out = {}
for i, tkey in ipairs(KEYS) do
  local row = redis.call('HMGET', tkey, unpack(fields))
  for j = 1, #fields do row[j] = row[j] or '' end
  local tier = false
  if row[customer_at] ~= '' then tier = redis.call('HGET', K.customer(row[customer_at]), 'tier') end
  row[#fields + 1] = tier or 'standard'
  out[i] = row
end
return out
