-- Record a survey answer: once per ticket, only where a survey was offered; audited with the
-- score (after) and the comment (detail), which is how it reaches the ticket's history and
-- the report rollups. An answer typed in the conversation names its message, so the replay
-- of that message after a crash is recognised as the same answer.
-- Keys: ticket (KEYS[1]), audit, ticket_history
-- ARGV[1] prefix (for K), ARGV[2] ticket id, ARGV[3] now, ARGV[4] score, ARGV[5] comment,
-- ARGV[6] the customer's message id ('' for the web page)
-- Returns 'ok' | 'missing' (no survey offered) | 'done' (answered before) | 'replay'
local tid, now = ARGV[2], ARGV[3]
local tkey = KEYS[1]
if not redis.call('HGET', tkey, 'csat_offered') then return 'missing' end
if redis.call('HSETNX', tkey, 'csat_score', ARGV[4]) == 0 then
  if ARGV[6] ~= '' and redis.call('HGET', tkey, 'csat_msg') == ARGV[6] then return 'replay' end
  return 'done'
end
redis.call('HSET', tkey, 'csat_comment', ARGV[5], 'csat_at', now, 'csat_msg', ARGV[6])
audit(now, 'customer', 'csat', tid, '', ARGV[4], ARGV[5])
return 'ok'
