-- Promote a model version, or roll a task back to its previous version, in one step: the
-- current/previous pointers, who did it and when, the audit entry and the notice every worker
-- listens for change together, so no worker can see a half-made switch. "default" stands for
-- the packaged model (a task nobody has promoted anything for yet).
-- Keys: models_current (KEYS[1]), models_previous, models, model, audit, models_events
-- ARGV[1] prefix (for K), ARGV[2] op ('promote' | 'rollback'), ARGV[3] task, ARGV[4] version (promote),
-- ARGV[5] actor, ARGV[6] now (epoch s)
-- Returns {'ok', old version, new version} | {'unknown', version} | {'same', version} |
--         {'none', ''} (rollback with nothing to return to)
local op, task, actor, now = ARGV[2], ARGV[3], ARGV[5], ARGV[6]
local current = redis.call('HGET', KEYS[1], task) or 'default'
local target
if op == 'promote' then
  target = ARGV[4]
  if target ~= 'default' and not redis.call('ZSCORE', K.models(task), target) then
    return {'unknown', target}
  end
  if target == current then return {'same', target} end
else
  target = redis.call('HGET', K.models_previous(), task)
  if not target then return {'none', ''} end
end
redis.call('HSET', KEYS[1], task, target)
redis.call('HSET', K.models_previous(), task, current)
if target ~= 'default' then
  redis.call('HSET', K.model(task, target), 'promoted_by', actor,
             'promoted_at', now)
end
if current ~= 'default' then
  redis.call('HSET', K.model(task, current), 'retired_by', actor,
             'retired_at', now)
end
redis.call('XADD', K.audit(), 'MAXLEN', '~', 1000000, '*', 'ts', now, 'actor', actor,
           'action', 'model_' .. op, 'ticket', '', 'before', current, 'after', target,
           'detail', 'model:' .. task)
redis.call('PUBLISH', K.models_events(), cjson.encode({op = op, task = task,
           version = target, previous = current, actor = actor, at = tonumber(now)}))
return {'ok', current, target}
