-- Forget a cached provider access token the provider called expired, but only if the cache
-- still holds that token: a process that already fetched a fresh one must not lose it.
-- Keys: access_token (KEYS[1])
-- ARGV[1] the token the provider refused. Returns 1 when dropped.
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
