-- Durable, idempotent accept of one message into the ingest stream.
-- Keys: seen (KEYS[1], the marker of the message id), ingest (KEYS[2])
-- ARGV[1] = message id, ARGV[2] = message JSON, ARGV[3] = marker TTL (seconds),
-- ARGV[4] = approximate stream MAXLEN (0 = unbounded)
-- Returns {1, entry id} when added, {0, entry id of the first delivery} for a duplicate.
local existing = redis.call('GET', KEYS[1])
if existing then
  -- Renewing the marker is a write: it makes a duplicate's answer wait for the AOF and the
  -- replicas like a first delivery's (WAIT waits for the replication offset of this
  -- connection's last command in Redis 6.2/7.0 as measured here, of its last write in later
  -- versions), and a sender that keeps retrying keeps being recognised.
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return {0, existing}
end
local entry
if tonumber(ARGV[4]) > 0 then
  entry = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'id', ARGV[1], 'm', ARGV[2])
else
  entry = redis.call('XADD', KEYS[2], '*', 'id', ARGV[1], 'm', ARGV[2])
end
redis.call('SET', KEYS[1], entry, 'EX', ARGV[3])
return {1, entry}
