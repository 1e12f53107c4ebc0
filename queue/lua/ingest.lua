-- Durable, idempotent accept of one message into the ingest stream.
-- KEYS[1] = seen marker of the message id, KEYS[2] = ingest stream,
-- KEYS[3] = message index of the id (msg:<id>: written when a worker applies the message)
-- ARGV[1] = message id, ARGV[2] = message JSON, ARGV[3] = marker TTL (seconds),
-- ARGV[4] = approximate stream MAXLEN (0 = unbounded)
-- Returns {1, entry id} when added, {0, entry id of the first delivery} for a duplicate
-- ({0, ''} once the first delivery was applied: its stream entry is trimmed by then).
-- The marker only bridges accept -> apply: apply_messages.lua deletes it when it writes the
-- message index, which is the permanent record (noise keeps its marker without TTL, see
-- TicketStore.record_noise). So a retry after any time is recognised, and markers cost memory
-- only for messages still waiting for a worker.
local existing = redis.call('GET', KEYS[1])
if existing then
  -- Renewing the marker is a write: it makes a duplicate's answer wait for the AOF and the
  -- replicas like a first delivery's (WAIT waits for the replication offset of this
  -- connection's last command in Redis 6.2/7.0 as measured here, of its last write in later
  -- versions), and a sender that keeps retrying keeps being recognised. A marker kept
  -- for good (noise) stays without TTL.
  if redis.call('TTL', KEYS[1]) >= 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[3])
  else
    redis.call('SET', KEYS[1], existing, 'KEEPTTL')
  end
  return {0, existing}
end
local ticket = redis.call('HGET', KEYS[3], 'ticket')
if ticket then
  redis.call('HSET', KEYS[3], 'ticket', ticket)  -- the same value: a write, for WAIT (above)
  return {0, ''}
end
local entry
if tonumber(ARGV[4]) > 0 then
  entry = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'id', ARGV[1], 'm', ARGV[2])
else
  entry = redis.call('XADD', KEYS[2], '*', 'id', ARGV[1], 'm', ARGV[2])
end
redis.call('SET', KEYS[1], entry, 'EX', ARGV[3])
return {1, entry}
