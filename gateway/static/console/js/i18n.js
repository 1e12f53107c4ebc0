// English and Chinese, switchable at any time and remembered in this browser.

const STRINGS = {
  en: {
    "app.name": "Deskgate", "app.tagline": "Customer service console",
    "lang.switch": "中文", "lang.label": "Language",
    "login.title": "Sign in", "login.token": "API token",
    "login.hint": "Paste the token your admin gave you (deskgate token create --role …). It is exchanged for a session and never stored in this browser.",
    "login.submit": "Sign in", "login.failed": "Sign-in failed: {msg}",
    "nav.queues": "My queues", "nav.tickets": "Tickets", "nav.review": "Review",
    "nav.board": "Live board", "nav.stats": "Volumes", "nav.admin": "Admin",
    "nav.logout": "Sign out", "nav.help": "Shortcuts",
    "role.agent": "Agent", "role.manager": "Manager", "role.admin": "Admin",
    "live.on": "Live", "live.off": "Reconnecting…",
    "queues.title": "My queues", "queues.empty": "No queues yet: ask an admin to give you skills.",
    "queue.depth": "waiting", "queue.oldest": "oldest waits {t}", "queue.none": "nothing waiting",
    "next.button": "Take next ticket", "next.empty": "No ticket is waiting in your queues.",
    "next.full": "You are at capacity: resolve a ticket first.",
    "mine.title": "Tickets I hold", "mine.empty": "You hold no tickets.", "mine.load": "Load {load} / {cap}",
    "search.placeholder": "Search tickets (/)", "search.title": "Tickets",
    "search.status": "Status", "search.any": "any", "search.go": "Search",
    "search.none": "No tickets match.", "search.more": "More",
    "t.id": "Ticket", "t.subject": "Subject", "t.status": "Status", "t.priority": "Priority",
    "t.channel": "Channel", "t.skill": "Skill", "t.assignee": "Assignee", "t.created": "Created",
    "t.updated": "Updated", "t.customer": "Customer",
    "ticket.thread": "Conversation", "ticket.triage": "Triage", "ticket.customer": "Customer",
    "ticket.others": "Other tickets of this customer", "ticket.noothers": "No other tickets.",
    "ticket.back": "Back", "ticket.attachments": "Attachments",
    "triage.language": "Language", "triage.topic": "Topic", "triage.confidence": "confidence",
    "triage.sentiment": "Sentiment", "triage.priority": "Priority", "triage.reasons": "Why",
    "triage.risk": "Risk", "triage.risk.high": "High risk", "triage.risk.low": "Normal",
    "triage.keywords": "Key words", "triage.entities": "Entities", "triage.model": "Model",
    "resolve.title": "Resolve", "resolve.hint": "Correct the labels if triage was wrong; your corrections train the next model.",
    "resolve.topic": "Topic", "resolve.priority": "Priority", "resolve.sentiment": "Sentiment",
    "resolve.keep": "(as triaged)", "resolve.submit": "Resolve (r)", "resolve.done": "Ticket {id} resolved.",
    "notes.title": "Internal notes", "notes.add": "Add note", "notes.placeholder": "Visible to the team only",
    "sla.title": "SLA", "sla.due": "due in {t}", "sla.breached": "breached {t} ago", "sla.none": "No SLA clock on this ticket yet.",
    "actions.more": "More actions", "actions.run": "Run",
    "review.title": "Review queue", "review.empty": "Nothing flagged for review.",
    "review.count": "{n} flagged", "review.reasons": "Reasons", "review.open": "Open",
    "review.flagged": "flagged {t} ago", "review.actions": "Actions",
    "review.acknowledge": "Acknowledge", "review.false_alarm": "False alarm", "review.escalate": "Escalate",
    "review.reassign": "Reassign", "review.target": "skill or @agent", "review.done": "{id}: {action} done.",
    "board.sla.none": "No SLA breaches waiting for review.",
    "board.queues": "Queues", "board.agents": "Agents", "board.agent": "Agent",
    "board.status": "Status", "board.load": "Load", "board.skills": "Skills", "board.team": "Team",
    "board.noagents": "No agents registered.", "board.noqueues": "No queues yet.",
    "board.sla": "SLA breaches",
    "stats.title": "Volume", "stats.days": "Days", "stats.bucket": "Per", "stats.hour": "hour",
    "stats.day": "day", "stats.by": "By {dim}", "stats.total": "{n} tickets", "stats.truncated": "(only the newest tickets counted)",
    "dim.channel": "channel", "dim.topic": "topic", "dim.sentiment": "sentiment", "dim.priority": "priority",
    "admin.tokens": "API tokens", "admin.agents": "Agents & skills", "admin.more": "More settings",
    "token.role": "Role", "token.agent": "Agent id", "token.label": "Label", "token.created": "Created",
    "token.id": "Id", "token.create": "Create token", "token.revoke": "Revoke",
    "token.once": "Copy this token now: it is shown only once and is not stored.",
    "token.revoked": "Token {id} revoked.", "token.confirm": "Revoke token {id}? Anyone using it is signed out.",
    "agent.id": "Agent id", "agent.name": "Name", "agent.skills": "Skills (name or name:level, comma separated)",
    "agent.capacity": "Capacity", "agent.status": "Status", "agent.team": "Team", "agent.languages": "Languages (zh,en)",
    "agent.save": "Save agent", "agent.saved": "Agent {id} saved.", "agent.edit": "Edit",
    "routing.title": "Routing rules", "routing.save": "Validate and save", "routing.reload": "Reload",
    "routing.saved": "Routing table saved; workers use it within a second.",
    "routing.hint": "First matching rule wins. Conditions: topics, languages, channels, accounts, priorities, tiers, high_risk → skill. JSON or YAML.",
    "agent.mystatus": "My status",
    "admin.api": "Settings the API offers", "admin.missing": "Not available from the API yet:",
    "status.online": "online", "status.away": "away", "status.offline": "offline",
    "status.open": "open", "status.assigned": "assigned", "status.pending": "pending",
    "status.resolved": "resolved", "status.closed": "closed",
    "help.title": "Keyboard shortcuts", "help.n": "take the next ticket", "help.r": "jump to the resolve form (Enter resolves)",
    "help.slash": "search tickets", "help.q": "question mark: this help", "help.esc": "close a dialog",
    "help.g": "g then q / r / b / s: go to queues / review / board / volumes",
    "common.save": "Save", "common.cancel": "Cancel", "common.close": "Close", "common.error": "Error: {msg}",
    "common.loading": "Loading…", "common.none": "—", "common.yes": "yes", "common.no": "no",
    "time.s": "{n}s", "time.m": "{n} min", "time.h": "{n} h", "time.d": "{n} d",
    "model.metrics": "Metrics", "model.confusion": "Confusion matrix", "model.predicted": "predicted", "model.actual": "actual",
  },
  zh: {
    "app.name": "Deskgate", "app.tagline": "客服工作台",
    "lang.switch": "English", "lang.label": "语言",
    "login.title": "登录", "login.token": "API 令牌",
    "login.hint": "粘贴管理员给你的令牌（deskgate token create --role …）。令牌只用来换取会话，不会保存在浏览器里。",
    "login.submit": "登录", "login.failed": "登录失败：{msg}",
    "nav.queues": "我的队列", "nav.tickets": "工单", "nav.review": "审核",
    "nav.board": "实时看板", "nav.stats": "工单量", "nav.admin": "管理",
    "nav.logout": "退出", "nav.help": "快捷键",
    "role.agent": "客服", "role.manager": "主管", "role.admin": "管理员",
    "live.on": "实时", "live.off": "重新连接中…",
    "queues.title": "我的队列", "queues.empty": "还没有队列：请管理员为你分配技能组。",
    "queue.depth": "等待中", "queue.oldest": "最久等待 {t}", "queue.none": "无等待",
    "next.button": "领取下一个工单", "next.empty": "你的队列里没有等待的工单。",
    "next.full": "已达到接待上限：请先解决一个工单。",
    "mine.title": "我处理中的工单", "mine.empty": "你手上没有工单。", "mine.load": "负载 {load} / {cap}",
    "search.placeholder": "搜索工单（/）", "search.title": "工单",
    "search.status": "状态", "search.any": "全部", "search.go": "搜索",
    "search.none": "没有匹配的工单。", "search.more": "更多",
    "t.id": "工单", "t.subject": "主题", "t.status": "状态", "t.priority": "优先级",
    "t.channel": "渠道", "t.skill": "技能组", "t.assignee": "处理人", "t.created": "创建",
    "t.updated": "更新", "t.customer": "客户",
    "ticket.thread": "对话记录", "ticket.triage": "智能分诊", "ticket.customer": "客户",
    "ticket.others": "该客户的其他工单", "ticket.noothers": "没有其他工单。",
    "ticket.back": "返回", "ticket.attachments": "附件",
    "triage.language": "语言", "triage.topic": "主题", "triage.confidence": "置信度",
    "triage.sentiment": "情绪", "triage.priority": "优先级", "triage.reasons": "依据",
    "triage.risk": "风险", "triage.risk.high": "高风险", "triage.risk.low": "正常",
    "triage.keywords": "关键词", "triage.entities": "实体", "triage.model": "模型",
    "resolve.title": "解决", "resolve.hint": "如果分诊有误请更正标签；更正会用于训练下一个模型。",
    "resolve.topic": "主题", "resolve.priority": "优先级", "resolve.sentiment": "情绪",
    "resolve.keep": "（保持分诊结果）", "resolve.submit": "解决（r）", "resolve.done": "工单 {id} 已解决。",
    "notes.title": "内部备注", "notes.add": "添加备注", "notes.placeholder": "仅团队可见",
    "sla.title": "SLA", "sla.due": "剩余 {t}", "sla.breached": "已超时 {t}", "sla.none": "该工单暂无 SLA 计时。",
    "actions.more": "更多操作", "actions.run": "执行",
    "review.title": "审核队列", "review.empty": "没有待审核的工单。",
    "review.count": "{n} 个待审核", "review.reasons": "原因", "review.open": "打开",
    "review.flagged": "{t}前标记", "review.actions": "操作",
    "review.acknowledge": "确认", "review.false_alarm": "误报", "review.escalate": "升级",
    "review.reassign": "转派", "review.target": "技能组或 @客服", "review.done": "{id}：已{action}。",
    "board.sla.none": "没有待审核的 SLA 超时。",
    "board.queues": "队列", "board.agents": "客服", "board.agent": "客服",
    "board.status": "状态", "board.load": "负载", "board.skills": "技能组", "board.team": "团队",
    "board.noagents": "还没有注册客服。", "board.noqueues": "还没有队列。",
    "board.sla": "SLA 超时",
    "stats.title": "工单量", "stats.days": "天数", "stats.bucket": "按", "stats.hour": "小时",
    "stats.day": "天", "stats.by": "按{dim}", "stats.total": "{n} 个工单", "stats.truncated": "（只统计了最新的工单）",
    "dim.channel": "渠道", "dim.topic": "主题", "dim.sentiment": "情绪", "dim.priority": "优先级",
    "admin.tokens": "API 令牌", "admin.agents": "客服与技能组", "admin.more": "更多设置",
    "token.role": "角色", "token.agent": "客服 ID", "token.label": "备注", "token.created": "创建时间",
    "token.id": "ID", "token.create": "创建令牌", "token.revoke": "吊销",
    "token.once": "请立即复制此令牌：它只显示这一次，系统不保存明文。",
    "token.revoked": "令牌 {id} 已吊销。", "token.confirm": "吊销令牌 {id}？使用它的人会被登出。",
    "agent.id": "客服 ID", "agent.name": "姓名", "agent.skills": "技能组（名称或 名称:等级，逗号分隔）",
    "agent.capacity": "接待上限", "agent.status": "状态", "agent.team": "团队", "agent.languages": "语言（zh,en）",
    "agent.save": "保存客服", "agent.saved": "客服 {id} 已保存。", "agent.edit": "编辑",
    "routing.title": "路由规则", "routing.save": "校验并保存", "routing.reload": "重新加载",
    "routing.saved": "路由表已保存；一秒内对所有工作进程生效。",
    "routing.hint": "按顺序匹配，第一条命中的规则生效。条件：topics、languages、channels、accounts、priorities、tiers、high_risk → skill。支持 JSON 或 YAML。",
    "agent.mystatus": "我的状态",
    "admin.api": "API 提供的设置", "admin.missing": "API 暂未提供：",
    "status.online": "在线", "status.away": "离开", "status.offline": "离线",
    "status.open": "待处理", "status.assigned": "处理中", "status.pending": "等待客户",
    "status.resolved": "已解决", "status.closed": "已关闭",
    "help.title": "键盘快捷键", "help.n": "领取下一个工单", "help.r": "跳到解决表单（回车提交）",
    "help.slash": "搜索工单", "help.q": "问号：显示本帮助", "help.esc": "关闭对话框",
    "help.g": "先按 g 再按 q / r / b / s：队列 / 审核 / 看板 / 工单量",
    "common.save": "保存", "common.cancel": "取消", "common.close": "关闭", "common.error": "出错：{msg}",
    "common.loading": "加载中…", "common.none": "—", "common.yes": "是", "common.no": "否",
    "time.s": "{n} 秒", "time.m": "{n} 分钟", "time.h": "{n} 小时", "time.d": "{n} 天",
    "model.metrics": "指标", "model.confusion": "混淆矩阵", "model.predicted": "预测", "model.actual": "实际",
  },
};

const KEY = "deskgate.lang";
function initialLang() {
  const saved = localStorage.getItem(KEY);
  if (saved && STRINGS[saved]) return saved;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}
let lang = initialLang();
const listeners = [];

export function t(key, vars = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

export function currentLang() { return lang; }

export function setLang(next) {
  lang = STRINGS[next] ? next : "en";
  localStorage.setItem(KEY, lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  listeners.forEach((fn) => fn(lang));
}

export function onLangChange(fn) { listeners.push(fn); }

/** "3 min", "2 h", "5 d" from seconds */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t("time.s", { n: s });
  if (s < 3600) return t("time.m", { n: Math.round(s / 60) });
  if (s < 86400) return t("time.h", { n: Math.round(s / 360) / 10 });
  return t("time.d", { n: Math.round(s / 8640) / 10 });
}

export function dateTime(value) {
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return d.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { dateStyle: "short", timeStyle: "short" });
}

document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
