-- The auto-answer stage's outcome for one ticket, in one atomic step with the acknowledgement
-- of its stream entry: a crash before this step re-does the lookup; after it, nothing changes.
--   answer: the reply on the thread and the outbox (written as reply.lua writes an agent's,
--     author "auto"), the first response, the ticket resolved (so no SLA clock runs while the
--     customer reads the answer; their next message reopens it: apply_messages.lua) with the
--     label auto-answered and the record of the lookup, audited. Only while the ticket is
--     open, unassigned and has only the message answered: else {'taken', status} ('wrote':
--     the customer wrote again) and nothing else (the caller then routes).
--   route: the record (the reason, whatever the lookup returned) attached for the agent,
--     audited; the ticket stays where routing put it.
-- A ticket is decided once: when it carries a record already (the same entry fed twice and
-- run by two workers at once), or the reply id is stored, the step only acknowledges: 'replay'.
-- Keys: ticket (KEYS[1]), auto_answer_stream (KEYS[2]), reply (KEYS[3]), ticket_replies
--       (KEYS[4]), outbox (KEYS[5]), ticket_labels (KEYS[6]), ticket_msgs, queue, sla_paused,
--       sla_due, audit, ticket_history; KEYS[3..6] only for 'answer'
-- ARGV[1] prefix (for K)  ARGV[2] op  ARGV[3] ticket id  ARGV[4] now
-- ARGV[5] stream entry id to acknowledge ('' = none)  ARGV[6] the stream's group
-- ARGV[7] the AutoAnswerRecord JSON  ARGV[8] audit detail (the fields used, or the reason)
-- ARGV[9] reply id  ARGV[10] the OutboundMessage JSON
-- Returns {'answered', reply id} | {'replay', state or ''} | {'routed', ''} | {'missing', ''}
--         | {'taken', status or 'wrote'}
local op, tid, ts = ARGV[2], ARGV[3], ARGV[4]
local function ack()
  if ARGV[5] ~= '' then redis.call('XACK', KEYS[2], ARGV[6], ARGV[5]) end
end
local t = redis.call('HMGET', KEYS[1], 'status', 'assignee', 'skill')
if not t[1] then
  ack()
  return {'missing', ''}
end
if redis.call('HEXISTS', KEYS[1], 'auto_answer') == 1 then
  ack()
  return {'replay', ''}
end
if op == 'route' then
  redis.call('HSET', KEYS[1], 'auto_answer', ARGV[7])
  audit(ts, 'auto', 'auto_answer', tid, t[1], 'routed', ARGV[8])
  ack()
  return {'routed', ''}
end
local rid = ARGV[9]
local state = redis.call('HGET', KEYS[3], 'state')
if state then
  ack()
  return {'replay', state}
end
if t[1] ~= 'open' or (t[2] or '') ~= '' then return {'taken', t[1]} end
-- a second message came while the lookup ran: it may ask something else, an agent reads it
if redis.call('LLEN', K.ticket_msgs(tid)) > 1 then return {'taken', 'wrote'} end
queue_reply(rid, tid, ARGV[10], ts)
audit(ts, 'auto', 'reply', tid, '', 'queued', rid)
first_response(tid, ts, 'auto')
redis.call('ZREM', K.queue(t[3]), tid)
redis.call('SREM', K.sla_paused(), tid)
clear_timers(tid, {'frt', 'res'})
redis.call('HSET', KEYS[1], 'status', 'resolved', 'resolved_at', ts, 'updated_at', ts,
           'resolved_by', 'auto', 'auto_answered_at', ts, 'auto_answer', ARGV[7])
redis.call('SADD', KEYS[6], 'auto-answered')
audit(ts, 'auto', 'resolve', tid, 'open', 'resolved', '')
audit(ts, 'auto', 'auto_answer', tid, 'open', 'answered', ARGV[8])
ack()
return {'answered', rid}
