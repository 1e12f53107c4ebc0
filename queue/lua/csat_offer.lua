-- Offer a ticket's satisfaction survey once, ever: the first call marks the ticket, queues
-- the link for delivery on the customer's channel (csat_offers, read by the outbound
-- senders) and audits; any later call (a re-resolve after a reopen, a retry) does nothing.
-- Keys: ticket (KEYS[1]), csat_offers (KEYS[2]), audit, ticket_history
-- ARGV[1] prefix (for K), ARGV[2] ticket id, ARGV[3] now, ARGV[4] link token, ARGV[5] actor
-- Returns 1 (offered) | 0 (offered before, or no such ticket)
local tid, now = ARGV[2], ARGV[3]
local tkey = KEYS[1]
local t = redis.call('HMGET', tkey, 'status', 'channel', 'account', 'customer_id')
if not t[1] then return 0 end
if redis.call('HSETNX', tkey, 'csat_offered', now) == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000000, '*', 'ticket', tid,
           'token', ARGV[4], 'channel', t[2] or '', 'account', t[3] or '',
           'customer_id', t[4] or '', 'ts', now)
audit(now, ARGV[5], 'csat_offered', tid, '', '', '')
return 1
