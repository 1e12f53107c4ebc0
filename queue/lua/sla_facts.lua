-- What the SLA code needs to know of each ticket, for a whole batch in one call (a pipeline
-- of one HMGET per ticket and one HGET per customer cost more in the client than in Redis).
-- ARGV[1] prefix, ARGV[2..] ticket ids
-- Returns one flat list per ticket: the FIELDS below in order ('' when unset), then the
-- customer's tier.
local FIELDS = {'status', 'priority', 'skill', 'account', 'customer_id', 'frt_done', 'frt_due',
                'res_due', 'sla_remaining', 'sla_breached_frt', 'sla_breached_res'}
local p = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local row = redis.call('HMGET', p .. 'ticket:' .. ARGV[i], unpack(FIELDS))
  for j = 1, #FIELDS do row[j] = row[j] or '' end
  local tier = false
  if row[5] ~= '' then tier = redis.call('HGET', p .. 'cust:' .. row[5], 'tier') end
  row[#FIELDS + 1] = tier or 'standard'
  out[i - 1] = row
end
return out
