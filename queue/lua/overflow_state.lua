-- Switch a skill's overflow on or off with hysteresis, recording each switch in the audit
-- stream so managers see when and why work spilled over.
-- Keys: overflow (KEYS[1]), audit, ticket_history (audit() writes it for a ticket only)
-- ARGV[1] prefix (for K), ARGV[2] skill, ARGV[3] over ('1'/'0'), ARGV[4] calm ('1'/'0'), ARGV[5] now,
-- ARGV[6] reason (JSON: load, oldest wait, backup)
-- Returns 1 while the skill overflows, else 0.
local skill = ARGV[2]
local on = redis.call('HEXISTS', KEYS[1], skill) == 1
if not on and ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], skill, ARGV[5])
  audit(ARGV[5], 'system', 'overflow_on', '', skill, cjson.decode(ARGV[6]).backup, ARGV[6])
  return 1
end
if on and ARGV[4] == '1' then
  redis.call('HDEL', KEYS[1], skill)
  audit(ARGV[5], 'system', 'overflow_off', '', cjson.decode(ARGV[6]).backup, skill, ARGV[6])
  return 0
end
return on and 1 or 0
