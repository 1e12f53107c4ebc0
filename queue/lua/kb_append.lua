-- Append one batch of resolved-ticket records to the suggestions' stream, exactly once: the
-- position (the last audit entry turned into records) moves in the same step as the appends,
-- and only from where the caller read it, so a replayed or concurrent batch appends nothing.
-- Keys: kb_pos (KEYS[1]), kb_solved (KEYS[2])
-- ARGV[1] the position the batch was read from ('' = none), ARGV[2] the new position,
-- ARGV[3] how many records the stream keeps (approximately), ARGV[4..] the records as JSON
-- Returns 1 (appended) | 0 (the position had moved: nothing appended)
local pos = redis.call('GET', KEYS[1]) or ''
if pos ~= ARGV[1] then return 0 end
for i = 4, #ARGV do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 's', ARGV[i])
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
