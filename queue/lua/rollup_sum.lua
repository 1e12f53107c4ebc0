-- Sum report rollup hashes inside Redis, so that a 30-day report moves one small reply
-- instead of every field of every day (queue/rollups.py).
-- Keys: rpt_bucket (KEYS[1] to KEYS[n])
-- ARGV[1] 'sum' (one total over all keys) | 'each' (one per key)
-- ARGV[2] JSON {"teams": [...] or absent, "team": "", "channel": "", "priority": "",
--               "metrics": [...] or absent, "metric_only": bool}
-- Every field is "<metric>|<team>|..."; main projection fields are
-- "<metric>|<team>|<channel>|<priority>|<policy>" and only they answer to channel/priority.
-- With metric_only the dimensions are summed away and only the metric is kept.
-- Returns 'sum': {field, value, ...}; 'each': {{field, value, ...}, ...} (values as strings)
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

local function fold(h, acc)
  for i = 1, #h, 2 do
    local field = h[i]
    local metric, team, rest = string.match(field, '^([^|]*)|([^|]*)(.*)$')
    local ok = metric ~= nil and (not metrics or metrics[metric])
    if ok and teams and not teams[team] then ok = false end
    if ok and want_team ~= '' and team ~= want_team then ok = false end
    if ok and (want_ch ~= '' or want_pr ~= '') then
      local ch, pr = string.match(rest, '^|([^|]*)|([^|]*)|[^|]*$')
      if not ch or (want_ch ~= '' and ch ~= want_ch) or (want_pr ~= '' and pr ~= want_pr) then
        ok = false
      end
    end
    if ok then
      local k = metric_only and metric or field
      acc[k] = (acc[k] or 0) + tonumber(h[i + 1])
    end
  end
end

local function flat(acc)
  local out = {}
  for k, v in pairs(acc) do
    out[#out + 1] = k
    out[#out + 1] = tostring(v)
  end
  return out
end

if ARGV[1] == 'sum' then
  local acc = {}
  for _, key in ipairs(KEYS) do fold(redis.call('HGETALL', key), acc) end
  return flat(acc)
end
local out = {}
for n, key in ipairs(KEYS) do
  local acc = {}
  fold(redis.call('HGETALL', key), acc)
  out[n] = flat(acc)
end
return out
