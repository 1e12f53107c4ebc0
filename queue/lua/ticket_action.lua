-- Every agent or manager action on one ticket, each checked and applied in one atomic step
-- with its audit entry. Who may see the ticket is checked by the caller; this script checks
-- what depends on the ticket's current state (its status, its assignee).
-- Keys: ticket (KEYS[1]), ticket_notes, leases, agent, agent_tickets, queue, skills, sla_due,
--       sla_paused, review, labels, ticket_labels, audit, ticket_history
-- ARGV[1] prefix (for K)  ARGV[2] op  ARGV[3] ticket id  ARGV[4] actor  ARGV[5] privileged ('1'/'0')
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
local op, tid, actor, priv, ts = ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6]
local arg = ARGV[8]
local tkey = KEYS[1]
local t = redis.call('HMGET', tkey, 'status', 'assignee', 'skill', 'queue_score')
if not t[1] then return {'missing', ''} end
local status, assignee, queue, score = t[1], t[2] or '', t[3], t[4]
local mine = priv or (assignee == actor and assignee ~= '')
local done = status == 'resolved' or status == 'closed'

local function renew_if_assignee()
  if status == 'assigned' and assignee == actor then
    redis.call('ZADD', K.leases(), 'XX', tonumber(ts) + tonumber(ARGV[7]), tid)
  end
end

if op == 'renew' then
  if status ~= 'assigned' then return {'conflict', status} end
  if assignee ~= actor and not priv then return {'forbidden', assignee} end
  local until_ = tonumber(ts) + tonumber(ARGV[7])
  redis.call('ZADD', K.leases(), until_, tid)
  return {'ok', tostring(until_)}

elseif op == 'release' then
  if status ~= 'assigned' then return {'conflict', status} end
  if not mine then return {'forbidden', assignee} end
  free(tid, assignee)
  redis.call('HSET', tkey, 'status', 'open', 'assignee', '', 'updated_at', ts)
  redis.call('ZADD', K.queue(queue), score, tid)
  audit(ts, actor, 'release', tid, 'assigned:' .. assignee, 'open', '')
  return {'ok', queue}

elseif op == 'transfer_queue' then
  if done then return {'conflict', status} end
  if not mine then return {'forbidden', assignee} end
  free(tid, assignee)
  redis.call('ZREM', K.queue(queue), tid)
  redis.call('HSET', tkey, 'status', status == 'pending' and 'pending' or 'open',
             'assignee', status == 'pending' and assignee or '', 'skill', arg, 'updated_at', ts)
  if status ~= 'pending' then redis.call('ZADD', K.queue(arg), score, tid) end
  redis.call('SADD', K.skills(), arg)
  audit(ts, actor, 'transfer', tid, queue .. (assignee ~= '' and (':' .. assignee) or ''),
        arg, '')
  return {'ok', arg}

elseif op == 'transfer_agent' then
  if done or status == 'pending' then return {'conflict', status} end
  if not mine then return {'forbidden', assignee} end
  local a = redis.call('HMGET', K.agent(arg), 'capacity', 'status')
  if not a[1] then return {'unknown_agent', ''} end
  if a[2] == 'offline' then return {'conflict', 'agent offline'} end
  local held = redis.call('SCARD', K.agent_tickets(arg))
  if held >= tonumber(a[1]) then return {'full', tostring(held)} end
  free(tid, assignee)
  redis.call('ZREM', K.queue(queue), tid)
  assign(tid, arg, ts, ARGV[7], actor, 'transfer',
         status == 'assigned' and ('assigned:' .. assignee) or status)
  return {'ok', arg}

elseif op == 'note' then
  redis.call('RPUSH', K.ticket_notes(tid), cjson.encode({at = tonumber(ts), author = actor, text = arg}))
  redis.call('HSET', tkey, 'updated_at', ts)
  renew_if_assignee()
  audit(ts, actor, 'note', tid, '', '', '')
  return {'ok', tostring(redis.call('LLEN', K.ticket_notes(tid)))}

elseif op == 'labels' then
  if not mine then return {'forbidden', assignee} end
  local added = {}
  for _, label in ipairs(cjson.decode(arg)) do
    if redis.call('SADD', K.ticket_labels(tid), label) == 1 then table.insert(added, label) end
  end
  if #added > 0 then
    redis.call('HSET', tkey, 'updated_at', ts)
    audit(ts, actor, 'labels', tid, '', table.concat(added, ','), '')
  end
  return {'ok', tostring(#added)}

elseif op == 'respond' then
  if status ~= 'assigned' then return {'conflict', status} end
  if not mine then return {'forbidden', assignee} end
  renew_if_assignee()
  return {'ok', first_response(tid, ts, actor)}

elseif op == 'pending' then
  if status ~= 'assigned' then return {'conflict', status} end
  if not mine then return {'forbidden', assignee} end
  -- waiting on the customer: the clocks stop and the ticket stops counting against capacity;
  -- the customer's answer brings it back to the same agent (queue/sla.py resumes it)
  free(tid, assignee)
  clear_timers(tid, {'frt', 'res'})
  redis.call('HSET', tkey, 'status', 'pending', 'sla_remaining', ARGV[9], 'updated_at', ts)
  redis.call('SADD', K.sla_paused(), tid)
  audit(ts, actor, 'pending', tid, 'assigned:' .. assignee, 'pending', '')
  return {'ok', ''}

elseif op == 'reopen' then
  if not done then return {'conflict', status} end
  redis.call('HSET', tkey, 'status', 'open', 'assignee', '', 'updated_at', ts)
  redis.call('HDEL', tkey, 'resolved_at', 'resolved_by')
  redis.call('ZADD', K.queue(queue), score, tid)
  for member, due in pairs(cjson.decode(ARGV[9]).timers or {}) do
    redis.call('ZADD', K.sla_due(), due, tid .. '|' .. member)
  end
  audit(ts, actor, 'reopen', tid, status, 'open', arg)
  return {'ok', queue}

elseif op == 'review_close' or op == 'false_alarm' then
  if redis.call('ZREM', K.review(), tid) == 0 then return {'conflict', 'not in review'} end
  local outcome = op == 'false_alarm' and 'false_alarm' or arg
  redis.call('HSET', tkey, 'review_outcome', outcome, 'reviewed_by', actor, 'reviewed_at', ts)
  if outcome == 'false_alarm' or outcome == 'escalated' then
    -- a manager's verdict on the risk flag: a training label for the risk model
    redis.call('HSET', tkey, 'risk_label', outcome)
    redis.call('XADD', K.labels(), 'MAXLEN', '~', 1000000, '*', 'ts', ts, 'ticket', tid,
               'kind', 'risk', 'value', outcome, 'actor', actor)
  end
  audit(ts, actor, 'review_' .. outcome, tid, 'in review', outcome, '')
  return {'ok', outcome}

elseif op == 'escalate' then
  if done then return {'conflict', status} end
  escalate(tid, ts, actor, arg, cjson.decode(ARGV[9]).boosts, 'manager')
  return {'ok', redis.call('HGET', tkey, 'priority')}
end
return redis.error_reply('unknown op ' .. op)
