-- Take the turn to send one team's daily summary: at most one process at a time (the turn
-- lasts ARGV[3] seconds, after which a process that died with it is replaced), never after it
-- was sent, and with the back-off of the previous failed attempt respected.
-- Keys: summary (KEYS[1])
-- ARGV[1] now  ARGV[2] owner  ARGV[3] turn seconds  ARGV[4] max attempts  ARGV[5] TTL seconds
-- ARGV[6] '1' when a person asks (the CLI): a given-up summary starts over
-- Returns {'go', attempt} | {'sent', attempts} | {'failed', attempts} | {'wait', attempts}
local f = redis.call('HMGET', KEYS[1], 'state', 'next_at', 'attempts')
local n = tonumber(f[3] or '0')
if f[1] == 'sent' then return {'sent', n} end
if ARGV[6] == '1' and (f[1] == 'failed' or n >= tonumber(ARGV[4])) then
  redis.call('HDEL', KEYS[1], 'state', 'next_at')
  redis.call('HSET', KEYS[1], 'attempts', 0)
  f[1], f[2], n = false, false, 0
end
if f[1] == 'failed' then return {'failed', n} end
if f[2] and tonumber(f[2]) > tonumber(ARGV[1]) then return {'wait', n} end
if n >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'state', 'failed')
  return {'failed', n}
end
n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'next_at', tonumber(ARGV[1]) + tonumber(ARGV[3]))
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {'go', n}
