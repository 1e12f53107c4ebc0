-- Shared by the work scripts (queue/scripts.py puts it in front of them, after the key
-- builder K): the audit trail and the state changes more than one script makes. Every state
-- change goes through audit(), so the global stream and the ticket's own history never disagree.
-- Keys: audit, ticket_history, ticket, leases, agent_tickets, agent, sla_due, review, queue,
--       skills, reply, ticket_replies, outbox
local function audit(ts, actor, action, tid, before, after, detail)
  local id = redis.call('XADD', K.audit(), 'MAXLEN', '~', 1000000, '*', 'ts', ts,
                        'actor', actor, 'action', action, 'ticket', tid, 'before', before,
                        'after', after, 'detail', detail or '')
  if tid ~= '' then
    redis.call('RPUSH', K.ticket_history(tid), cjson.encode({
      id = id, ts = tonumber(ts), actor = actor, action = action, before = before,
      after = after, detail = detail or ''}))
  end
end

-- A reply onto the ticket's thread (state queued) and its entry on the durable outbox stream,
-- whoever wrote it (reply.lua: an agent; auto_answer.lua: the auto-answer stage).
local function queue_reply(rid, tid, json, ts)
  redis.call('HSET', K.reply(rid), 'rid', rid, 'ticket', tid, 'json', json, 'state', 'queued',
             'attempts', 0, 'created_at', ts, 'updated_at', ts)
  redis.call('RPUSH', K.ticket_replies(tid), rid)
  redis.call('XADD', K.outbox(), '*', 'r', rid)
end

local function assign(tid, agent, ts, lease_s, actor, action, before)
  redis.call('HSET', K.ticket(tid), 'status', 'assigned', 'assignee', agent,
             'claimed_at', ts, 'updated_at', ts)
  redis.call('ZADD', K.leases(), tonumber(ts) + tonumber(lease_s), tid)
  redis.call('SADD', K.agent_tickets(agent), tid)
  redis.call('HSET', K.agent(agent), 'last_assigned', ts)
  audit(ts, actor, action, tid, before, 'assigned:' .. agent, '')
end

-- the lease and the agent's slot; the assignee field stays for the record
local function free(tid, assignee)
  redis.call('ZREM', K.leases(), tid)
  if assignee and assignee ~= '' then
    redis.call('SREM', K.agent_tickets(assignee), tid)
  end
end

local function clear_timers(tid, kinds)
  for _, kind in ipairs(kinds) do
    redis.call('ZREM', K.sla_due(), tid .. '|' .. kind .. '|warn', tid .. '|' .. kind .. '|breach')
  end
end

-- A reply reached (or is on its way to) the customer: the first one stops the first-response
-- clock. Returns when the first response was made.
local function first_response(tid, ts, actor)
  local tkey = K.ticket(tid)
  local done = redis.call('HGET', tkey, 'frt_done')
  if done then return done end
  redis.call('HSET', tkey, 'frt_done', ts, 'updated_at', ts)
  clear_timers(tid, {'frt'})
  audit(ts, actor, 'first_response', tid, '', '', '')
  return ts
end

local function add_review(tid, ts, reason)
  local tkey = K.ticket(tid)
  redis.call('ZADD', K.review(), 'NX', ts, tid)
  local old = redis.call('HGET', tkey, 'review_reasons')
  redis.call('HSET', tkey, 'review_reasons', (old and old ~= '') and (old .. '; ' .. reason) or reason)
  redis.call('HDEL', tkey, 'review_outcome')
end

-- Raise the priority one step (its queue position moves by the boost difference) and, when
-- `to_queue` is given, take it from its agent into that queue.
-- boosts: {P1 = seconds, ...} from models/scoring.py
local function escalate(tid, ts, actor, to_queue, boosts, detail)
  local tkey = K.ticket(tid)
  local t = redis.call('HMGET', tkey, 'status', 'skill', 'queue_score', 'priority', 'assignee')
  local old_prio = t[4] or 'P3'
  local new_prio = 'P' .. math.max(1, tonumber(string.sub(old_prio, 2)) - 1)
  local score = tonumber(t[3] or ts) - (boosts[new_prio] - boosts[old_prio])
  local queue = t[2]
  if to_queue ~= '' and to_queue ~= queue and (t[1] == 'open' or t[1] == 'assigned') then
    redis.call('ZREM', K.queue(queue), tid)
    if t[1] == 'assigned' then
      free(tid, t[5])
      redis.call('HSET', tkey, 'status', 'open', 'assignee', '')
    end
    queue = to_queue
    redis.call('SADD', K.skills(), queue)
  end
  redis.call('HSET', tkey, 'priority', new_prio, 'queue_score', score, 'skill', queue,
             'updated_at', ts, 'escalated_at', ts)
  if redis.call('HGET', tkey, 'status') == 'open' then
    redis.call('ZADD', K.queue(queue), score, tid)
  end
  audit(ts, actor, 'escalate', tid, old_prio .. ' ' .. t[2], new_prio .. ' ' .. queue, detail)
end
