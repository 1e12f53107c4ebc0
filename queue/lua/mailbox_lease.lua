-- Take or renew a lease, so that of several processes only one does the work at a time: poll
-- one IMAP mailbox (queue/mailbox_state.py), fetch one provider access token
-- (queue/access_tokens.py), fetch one WeCom 微信客服 account's messages (queue/wecom_cursor.py).
-- Keys: imap_lease (KEYS[1]); ARGV[1] = owner id; ARGV[2] = lease length (milliseconds), 0 = release
-- Returns 1 when ARGV[1] holds the lease (newly or renewed), 0 when another owner does.
local owner = redis.call('GET', KEYS[1])
if ARGV[2] == '0' then
  if owner == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 0
end
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
