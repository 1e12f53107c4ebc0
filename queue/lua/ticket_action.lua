-- Every agent or manager action on one ticket, each checked and applied in one atomic step
-- with its audit entry. Who may see the ticket is checked by the caller; this script checks
-- what depends on the ticket's current state (its status, its assignee).
-- ARGV[1] prefix  ARGV[2] op  ARGV[3] ticket id  ARGV[4] actor  ARGV[5] privileged ('1'/'0')
-- ARGV[6] now     ARGV[7] lease seconds          ARGV[8] argument  ARGV[9] JSON extra
-- ops and their argument / extra:
--   renew                      -> extends the assignee's lease
--   release                    -> back to the front of its queue
--   transfer_queue  queue      -> into another skill queue, unassigned, same position
--   transfer_agent  agent id   -> leased to that agent (who must have room)
--   note            text       -> internal note (not sent to the customer)
--   labels          JSON list  -> labels added to the ticket (a macro's)
--   respond                    -> a reply went to the customer: stops the first-response clock
--   pending         extra = {"frt": remaining s, "res": remaining s} of the running clocks
--   reopen          extra = {"timers": {member: deadline}} -> a resolved ticket back in queue
--   review_close    outcome    -> leaves the review queue ('acknowledged', 'reassigned', ...)
--   false_alarm                -> leaves review, labelled for retraining (as is 'escalated')
--   escalate        queue      extra = {"boosts": {...}} -> priority up, optional new queue
-- Returns {'ok', detail} | {'missing', ''} | {'forbidden', assignee} | {'conflict', status}
--         | {'unknown_agent', ''} | {'full', held}
local p, op, tid, actor, priv, ts = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6]
local arg = ARGV[8]
local tkey = p .. 'ticket:' .. tid
local t = redis.call('HMGET', tkey, 'status', 'assignee', 'skill', 'queue_score')
if not t[1] then return {'missing', ''} end
local status, assignee, queue, score = t[1], t[2] or '', t[3], t[4]
local mine = priv or (assignee == actor and assignee ~= '')
local done = status == 'resolved' or status == 'closed'

local function renew_if_assignee()
  if status == 'assigned' and assignee == actor then
    redis.call('ZADD', p .. 'lease', 'XX', tonumber(ts) + tonumber(ARGV[7]), tid)
  end
end

if op == 'renew' then
  if status ~= 'assigned' then return {'conflict', status} end
  if assignee ~= actor and not priv then return {'forbidden', assignee} end
  local until_ = tonumber(ts) + tonumber(ARGV[7])
  redis.call('ZADD', p .. 'lease', until_, tid)
  return {'ok', tostring(until_)}

elseif op == 'release' then
  if status ~= 'assigned' then return {'conflict', status} end
  if not mine then return {'forbidden', assignee} end
  free(p, tid, assignee)
  redis.call('HSET', tkey, 'status', 'open', 'assignee', '', 'updated_at', ts)
  redis.call('ZADD', p .. 'q:' .. queue, score, tid)
  audit(p, ts, actor, 'release', tid, 'assigned:' .. assignee, 'open', '')
  return {'ok', queue}

elseif op == 'transfer_queue' then
  if done then return {'conflict', status} end
  if not mine then return {'forbidden', assignee} end
  free(p, tid, assignee)
  redis.call('ZREM', p .. 'q:' .. queue, tid)
  redis.call('HSET', tkey, 'status', status == 'pending' and 'pending' or 'open',
             'assignee', status == 'pending' and assignee or '', 'skill', arg, 'updated_at', ts)
  if status ~= 'pending' then redis.call('ZADD', p .. 'q:' .. arg, score, tid) end
  redis.call('SADD', p .. 'skills', arg)
  audit(p, ts, actor, 'transfer', tid, queue .. (assignee ~= '' and (':' .. assignee) or ''),
        arg, '')
  return {'ok', arg}

elseif op == 'transfer_agent' then
  if done or status == 'pending' then return {'conflict', status} end
  if not mine then return {'forbidden', assignee} end
  local a = redis.call('HMGET', p .. 'agent:' .. arg, 'capacity', 'status')
  if not a[1] then return {'unknown_agent', ''} end
  if a[2] == 'offline' then return {'conflict', 'agent offline'} end
  local held = redis.call('SCARD', p .. 'agent:' .. arg .. ':tickets')
  if held >= tonumber(a[1]) then return {'full', tostring(held)} end
  free(p, tid, assignee)
  redis.call('ZREM', p .. 'q:' .. queue, tid)
  assign(p, tid, arg, ts, ARGV[7], actor, 'transfer',
         status == 'assigned' and ('assigned:' .. assignee) or status)
  return {'ok', arg}

elseif op == 'note' then
  redis.call('RPUSH', tkey .. ':notes', cjson.encode({at = tonumber(ts), author = actor, text = arg}))
  redis.call('HSET', tkey, 'updated_at', ts)
  renew_if_assignee()
  audit(p, ts, actor, 'note', tid, '', '', '')
  return {'ok', tostring(redis.call('LLEN', tkey .. ':notes'))}

elseif op == 'labels' then
  if not mine then return {'forbidden', assignee} end
  local added = {}
  for _, label in ipairs(cjson.decode(arg)) do
    if redis.call('SADD', tkey .. ':labels', label) == 1 then table.insert(added, label) end
  end
  if #added > 0 then
    redis.call('HSET', tkey, 'updated_at', ts)
    audit(p, ts, actor, 'labels', tid, '', table.concat(added, ','), '')
  end
  return {'ok', tostring(#added)}

elseif op == 'respond' then
  if status ~= 'assigned' then return {'conflict', status} end
  if not mine then return {'forbidden', assignee} end
  renew_if_assignee()
  return {'ok', first_response(p, tid, ts, actor)}

elseif op == 'pending' then
  if status ~= 'assigned' then return {'conflict', status} end
  if not mine then return {'forbidden', assignee} end
  -- waiting on the customer: the clocks stop and the ticket stops counting against capacity;
  -- the customer's answer brings it back to the same agent (queue/sla.py resumes it)
  free(p, tid, assignee)
  clear_timers(p, tid, {'frt', 'res'})
  redis.call('HSET', tkey, 'status', 'pending', 'sla_remaining', ARGV[9], 'updated_at', ts)
  redis.call('SADD', p .. 'sla:paused', tid)
  audit(p, ts, actor, 'pending', tid, 'assigned:' .. assignee, 'pending', '')
  return {'ok', ''}

elseif op == 'reopen' then
  if not done then return {'conflict', status} end
  redis.call('HSET', tkey, 'status', 'open', 'assignee', '', 'updated_at', ts)
  redis.call('HDEL', tkey, 'resolved_at', 'resolved_by')
  redis.call('ZADD', p .. 'q:' .. queue, score, tid)
  for member, due in pairs(cjson.decode(ARGV[9]).timers or {}) do
    redis.call('ZADD', p .. 'sla:due', due, tid .. '|' .. member)
  end
  audit(p, ts, actor, 'reopen', tid, status, 'open', arg)
  return {'ok', queue}

elseif op == 'review_close' or op == 'false_alarm' then
  if redis.call('ZREM', p .. 'review', tid) == 0 then return {'conflict', 'not in review'} end
  local outcome = op == 'false_alarm' and 'false_alarm' or arg
  redis.call('HSET', tkey, 'review_outcome', outcome, 'reviewed_by', actor, 'reviewed_at', ts)
  if outcome == 'false_alarm' or outcome == 'escalated' then
    -- a manager's verdict on the risk flag: a training label for the risk model
    redis.call('HSET', tkey, 'risk_label', outcome)
    redis.call('XADD', p .. 'labels', 'MAXLEN', '~', 1000000, '*', 'ts', ts, 'ticket', tid,
               'kind', 'risk', 'value', outcome, 'actor', actor)
  end
  audit(p, ts, actor, 'review_' .. outcome, tid, 'in review', outcome, '')
  return {'ok', outcome}

elseif op == 'escalate' then
  if done then return {'conflict', status} end
  escalate(p, tid, ts, actor, arg, cjson.decode(ARGV[9]).boosts, 'manager')
  return {'ok', redis.call('HGET', tkey, 'priority')}
end
return redis.error_reply('unknown op ' .. op)
