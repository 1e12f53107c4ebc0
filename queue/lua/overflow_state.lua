-- Switch a skill's overflow on or off with hysteresis, recording each switch in the audit
-- stream so managers see when and why work spilled over.
-- ARGV[1] prefix, ARGV[2] skill, ARGV[3] over ('1'/'0'), ARGV[4] calm ('1'/'0'), ARGV[5] now,
-- ARGV[6] reason (JSON: load, oldest wait, backup)
-- Returns 1 while the skill overflows, else 0.
local p, skill = ARGV[1], ARGV[2]
local on = redis.call('HEXISTS', p .. 'overflow', skill) == 1
if not on and ARGV[3] == '1' then
  redis.call('HSET', p .. 'overflow', skill, ARGV[5])
  audit(p, ARGV[5], 'system', 'overflow_on', '', skill, cjson.decode(ARGV[6]).backup, ARGV[6])
  return 1
end
if on and ARGV[4] == '1' then
  redis.call('HDEL', p .. 'overflow', skill)
  audit(p, ARGV[5], 'system', 'overflow_off', '', cjson.decode(ARGV[6]).backup, skill, ARGV[6])
  return 0
end
return on and 1 or 0
