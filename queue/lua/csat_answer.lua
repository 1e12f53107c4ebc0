-- Record a survey answer: once per ticket, only where a survey was offered; audited with the
-- score (after) and the comment (detail), which is how it reaches the ticket's history and
-- the report rollups.
-- ARGV[1] prefix, ARGV[2] ticket id, ARGV[3] now, ARGV[4] score, ARGV[5] comment
-- Returns 'ok' | 'missing' (no survey offered) | 'done' (answered before)
local p, tid, now = ARGV[1], ARGV[2], ARGV[3]
local tkey = p .. 'ticket:' .. tid
if not redis.call('HGET', tkey, 'csat_offered') then return 'missing' end
if redis.call('HSETNX', tkey, 'csat_score', ARGV[4]) == 0 then return 'done' end
redis.call('HSET', tkey, 'csat_comment', ARGV[5], 'csat_at', now)
audit(p, now, 'customer', 'csat', tid, '', ARGV[4], ARGV[5])
return 'ok'
