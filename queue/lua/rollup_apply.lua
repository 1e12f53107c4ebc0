-- Fold one batch of audit entries into the report rollups, exactly once: the position (the
-- last entry folded) moves in the same step as the counters, and only from where the caller
-- read it, so a replayed or concurrent batch changes nothing.
-- KEYS[1] the position ({p}rpt:pos); KEYS[2..] every key the ops name, by index
-- ARGV[1] the position the batch was computed from ('' = none), ARGV[2] the new position,
-- ARGV[3] JSON {"i": [[k, field, n]], "f": [[k, field, n]], "set": [[k, value, ttl]],
--                "zadd": [[k, score, member]], "zrem": [[k, member]], "exp": [[k, ttl]]}
-- Returns 1 (applied) | 0 (the position had moved: nothing applied)
local pos = redis.call('GET', KEYS[1]) or ''
if pos ~= ARGV[1] then return 0 end
local ops = cjson.decode(ARGV[3])
for _, o in ipairs(ops.i) do redis.call('HINCRBY', KEYS[o[1]], o[2], o[3]) end
for _, o in ipairs(ops.f) do redis.call('HINCRBYFLOAT', KEYS[o[1]], o[2], o[3]) end
for _, o in ipairs(ops.set) do redis.call('SET', KEYS[o[1]], o[2], 'EX', o[3]) end
for _, o in ipairs(ops.zadd) do redis.call('ZADD', KEYS[o[1]], o[2], o[3]) end
for _, o in ipairs(ops.zrem) do redis.call('ZREM', KEYS[o[1]], o[2]) end
for _, o in ipairs(ops.exp) do redis.call('EXPIRE', KEYS[o[1]], o[2]) end
redis.call('SET', KEYS[1], ARGV[2])
return 1
