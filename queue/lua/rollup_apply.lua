-- Fold one batch of audit entries into the report rollups, exactly once: the position (the
-- last entry folded) moves in the same step as the counters, and only from where the caller
-- read it, so a replayed or concurrent batch changes nothing.
-- Keys: rpt_pos (KEYS[1]), rpt_bucket (KEYS[2..]), rpt_fold (KEYS[2..]),
--       rpt_opened (KEYS[2..]), rpt_open (KEYS[2..]); the ops name KEYS[2..] by index
-- ARGV[1] the position the batch was computed from ('' = none), ARGV[2] the new position,
-- ARGV[3] JSON {"i": [[k, field, n]], "f": [[k, field, n]], "set": [[k, value, ttl]],
--                "zadd": [[k, score, member]], "zrem": [[k, member]], "exp": [[k, ttl]]}
-- Returns 1 (applied) | 0 (the position had moved: nothing applied)
local pos = redis.call('GET', KEYS[1]) or ''
if pos ~= ARGV[1] then return 0 end
local ops = cjson.decode(ARGV[3])
-- Grouped by key and applied key by key, so each key reaches Redis straight from KEYS. A
-- key's ops keep the order of the kinds below (an expiry after the counts, a ZREM after a
-- ZADD of the same member); ops on different keys do not interact.
local by_key = {}
for _, kind in ipairs({'i', 'f', 'set', 'zadd', 'zrem', 'exp'}) do
  for _, o in ipairs(ops[kind]) do
    local n = o[1]
    by_key[n] = by_key[n] or {}
    table.insert(by_key[n], {kind, o})
  end
end
for n, key in ipairs(KEYS) do
  for _, op in ipairs(by_key[n] or {}) do
    local kind, o = op[1], op[2]
    if kind == 'i' then redis.call('HINCRBY', key, o[2], o[3])
    elseif kind == 'f' then redis.call('HINCRBYFLOAT', key, o[2], o[3])
    elseif kind == 'set' then redis.call('SET', key, o[2], 'EX', o[3])
    elseif kind == 'zadd' then redis.call('ZADD', key, o[2], o[3])
    elseif kind == 'zrem' then redis.call('ZREM', key, o[2])
    else
      -- a bucket's version: readers (queue/rollups.py) keep what they summed of a bucket
      -- until this changes
      redis.call('HSET', key, '~v', ARGV[2])
      redis.call('EXPIRE', key, o[2])
    end
  end
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
