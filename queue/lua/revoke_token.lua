-- Revoke an API token: delete it and tell every gateway in the same step (they drop it from
-- their token caches), so no gateway keeps trusting a token Redis no longer has. A script, not
-- a MULTI: a cluster client refuses PUBLISH inside a pipeline.
-- Keys: token (KEYS[1]), token_ids (KEYS[2]), token_revocations (KEYS[3], a pub/sub channel)
-- ARGV[1] = the token's hash
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', KEYS[3], ARGV[1])
return 1
