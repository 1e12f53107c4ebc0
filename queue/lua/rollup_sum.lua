-- Sum report rollup hashes inside Redis, so that a 30-day report moves one small reply
-- instead of every field of every day (queue/rollups.py).
-- Keys: rpt_bucket (KEYS[1] to KEYS[n])
-- ARGV[1] 'each' (one result per key; the only mode)
-- ARGV[2] JSON {"teams": [...] or absent, "team": "", "channel": "", "priority": "",
--               "metrics": [...] or absent, "metric_only": bool}
-- Every field is "<metric>|<team>|..."; main projection fields are
-- "<metric>|<team>|<channel>|<priority>|<policy>" and only they answer to channel/priority.
-- With metric_only the dimensions are summed away and only the metric is kept.
-- ARGV[3] JSON list: the version ('~v', set by rollup_apply.lua) the caller holds a result of,
--         per key ('' = none); such a key is answered with its version alone
-- Returns {{version}, ...} per key known, else {version, JSON object {field: value}}
local f = cjson.decode(ARGV[2])
local teams = nil
if type(f.teams) == 'table' then
  teams = {}
  for _, t in ipairs(f.teams) do teams[t] = true end
end
local metrics = nil
if type(f.metrics) == 'table' then
  metrics = {}
  for _, m in ipairs(f.metrics) do metrics[m] = true end
end
local want_team, want_ch, want_pr = f.team or '', f.channel or '', f.priority or ''
local metric_only = f.metric_only == true

local plain = not teams and not metrics and not metric_only and want_team == ''
  and want_ch == '' and want_pr == ''

-- string.find/sub rather than one pattern with captures: this loop runs once per field of
-- every bucket a report reads, and most fields are rejected by their metric or team alone
local function fold(h, acc)
  for i = 1, #h, 2 do
    local field = h[i]
    local a = string.find(field, '|', 1, true)
    if a and plain then
      acc[field] = (acc[field] or 0) + tonumber(h[i + 1])
    elseif a then
      local metric = string.sub(field, 1, a - 1)
      local ok = not metrics or metrics[metric]
      if ok and (teams or want_team ~= '') then
        local b = string.find(field, '|', a + 1, true)
        local team = string.sub(field, a + 1, (b or 0) - 1)
        ok = (not teams or teams[team]) and (want_team == '' or team == want_team)
      end
      if ok and (want_ch ~= '' or want_pr ~= '') then
        local ch, pr = string.match(field, '^[^|]*|[^|]*|([^|]*)|([^|]*)|[^|]*$')
        ok = ch and (want_ch == '' or ch == want_ch) and (want_pr == '' or pr == want_pr)
      end
      if ok then
        local k = metric_only and metric or field
        acc[k] = (acc[k] or 0) + tonumber(h[i + 1])
      end
    end
  end
end

local known = cjson.decode(ARGV[3])
local out = {}
for n, key in ipairs(KEYS) do
  local v = redis.call('HGET', key, '~v') or ''
  if v ~= '' and known[n] == v then
    out[n] = {v}
  else
    local acc = {}
    fold(redis.call('HGETALL', key), acc)
    -- one JSON string per key: far cheaper to build here and to read in the client than
    -- a bulk string per field and value
    out[n] = {v, next(acc) and cjson.encode(acc) or '{}'}
  end
end
return out
