"""Every Redis key Deskgate uses, named once, under one configurable prefix (default "dg:").

The Lua scripts in lua/ do not spell key names either: `lua_key_functions` renders these same
definitions as Lua functions (`K.ticket(tid)`), which queue/scripts.py puts in front of each
script, so a name changes here or nowhere. A deployment that sets a tenant gets the prefix
"dg:{tenant}:": the braces are a Redis Cluster hash tag, so every key of the tenant hashes to
one slot and the scripts (which touch many keys in one call) can run on a cluster.

Key                               Type     What
{p}ingest                         stream   accepted InboundMessages, field "m" = JSON; group "triage"
{p}seen:{message_id}              string   idempotency marker (value: stream entry id) set with the XADD; TTL;
                                           deleted when the message is applied (msg:{id} takes over), kept
                                           without TTL for noise
{p}ingest:dead                     stream   entries that could not be decoded (never silently dropped)
{p}msg:{message_id}               hash     "ticket" it went to + "json" of the message (set once applied);
                                           also the permanent duplicate check of ingest.lua
{p}ticket:seq                     string   INCR counter for ticket numbers
{p}ticket:{id}                    hash     ticket fields (see queue/tickets.py)
{p}ticket:{id}:msgs               list     message ids of the ticket, oldest first
{p}tickets                        zset     every ticket id by creation time (listing, paging)
{p}thread:{channel}:{account}:{k} string   thread key -> ticket id
{p}cust:seq                       string   INCR counter for customer numbers
{p}cust:{id}:claims               set      identity keys the customer typed, unverified: shown, never matched
{p}cust:{id}                      hash     customer fields
{p}cust:{id}:tickets              zset     the customer's ticket ids by creation time
{p}cust:{id}:ids                  set      the customer's identity keys
{p}custchan:{cust}:{chan}:{acct}  string   the customer's latest ticket on a channel account
{p}sent:{address}                 hash     Message-ID of a mail we sent to that address -> ticket id (threads unverified replies)
{p}secret:tag                     string   per-deployment HMAC secret of the subject tag "[#DG-3-<MAC>]"
{p}ident                          hash     "<kind>:<value>" -> customer id
{p}q:{skill}                      zset     open tickets of a skill; score = queue position
{p}skills                         set      every skill that ever had a queue
{p}lease                          zset     assigned ticket id -> lease expiry (epoch seconds)
{p}agent:{id}                     hash     agent fields
{p}agent:{id}:tickets             set      tickets currently leased to the agent
{p}agents                         set      agent ids
{p}token:{sha256}                 hash     API token: role, agent id, created_at, label
{p}tokens                         set      every token hash (for listing and revoking)
{p}tokens:revoked                 channel  pub/sub: the hash of each revoked token (gateways drop it from cache)
{p}review                         zset     high-risk tickets awaiting a manager; score = time (urgent: minus review.URGENT_REVIEW_OFFSET)
{p}noise                          stream   non-ticket messages (auto-replies, bounces, statuses)
{p}audit                          stream   every ticket state change (who, what, before/after)
{p}metrics                        hash     counters shared by all processes
{p}imap:{mailbox}                  hash     IMAP mailbox state: uidvalidity, last_uid (queue/mailbox_state.py)
{p}imap:{mailbox}:lease            string   which gateway polls the mailbox (owner id, PX lease)
{p}mail:quarantine                 stream   mail that could not be ingested: mailbox, uid, reason, raw
{p}replay:{chan}:{acct}:{nonce}  string   webhook nonce -> body digest, TTL 2x clock skew (queue/replay.py)
{p}session:{sha256}               hash     console session: token hash, csrf, created_at; idle TTL (queue/sessions.py)
{p}login:{address}                string   console sign-in attempts from one address (or IPv6 /64); TTL = window
{p}q:{skill}@{level}              zset     open tickets that need that skill level or more (models/routing.py)
{p}skill:{skill}:agents           set      agents having the skill (load, push mode; queue/work.py)
{p}routing                        hash     admin routing table: json, rev, updated_by/at (overrides the file)
{p}overflow                       hash     skills spilling to their backup -> since (queue/routing.py)
{p}ticket:{id}:history            list     the ticket's audit entries as JSON, oldest first
{p}ticket:{id}:notes              list     internal notes as JSON: at, author, text
{p}sla:due                        zset     "<ticket>|<frt|res>|<warn|breach>" -> when (queue/sla.py)
{p}sla:paused                     set      tickets whose SLA clocks stopped while pending
{p}notify                         stream   manager notifications to deliver (warn, breach); group "notify"
{p}notify:dead                    stream   notifications that could not be delivered after retries
{p}labels                         stream   training labels: resolve corrections, risk verdicts (false alarm, escalated)
{p}models:{task}                  zset     registered model versions of a task -> created (queue/classifier_registry.py)
{p}model:{task}:{version}         hash     a version: manifest, sha256, path, trained/promoted by+at, evaluation
{p}models:current                 hash     task -> the version every worker must run
{p}models:previous                hash     task -> the version a rollback returns to
{p}models:events                  pubsub   "promote"/"rollback" notices; workers then re-read models:current
{p}models:running                 hash     worker -> JSON {versions, at, error}: what each worker runs (/metrics)
{p}history                        hash     "<source>:<ticket id>" -> JSON imported past ticket (HSETNX dedupes)
{p}mjobs                          zset     retraining/import job ids -> enqueue time (rq queue "{p}models")
{p}mjob:{id}:log                  list     a job's log lines, oldest first; TTL 30 days
{p}mjob:{id}:cancel               string   cancellation requested; the job stops at its next checkpoint
{p}channels                       hash     "<channel>/<account>" -> JSON admin-stored account settings (queue/channels.py)
{p}channels:rev                   string   INCR on every channel account change; gateways reload when it moves
{p}work                           hash     admin SLA policies and teams: json, rev, updated_by/at (overrides the file)
{p}atoken:{name}                  hash     a provider access token: token, refresh_at (when to refresh it); TTL = its life (queue/access_tokens.py)
{p}atoken:{name}:lock             string   which process is fetching that token (owner id, PX lease)
{p}wecom:{account}:cursor         string   WeCom 微信客服 sync_msg next_cursor: where the next fetch starts
{p}wecom:{account}:lease          string   which gateway is fetching that account's messages (owner id, PX lease)
{p}wecom:{account}:polled        string   a gateway polled the account's sync_msg; PX = the poll interval (one poll per interval across gateways)
{p}secret:csat                    string   per-deployment HMAC secret of survey links (queue/csat.py)
{p}csat:offers                    stream   survey links to deliver on the customer's channel: ticket, token, channel, account, customer_id
{p}csat:limit:{address}           string   survey answers posted from one address; TTL = window
{p}csat:views:{address}           string   survey pages shown to one address; TTL = window
{p}csat:due                       zset     link token -> when its survey goes out (the delay after resolution)
{p}summary:{team}:{date}          hash     a team's daily summary of that local date: state, attempts, next_at, owner
{p}rpt:team_since                 string   since when (epoch s) the team projections n and y hold every count (0: always)
{p}rpt:pos                        string   the last audit entry folded into the report rollups (queue/rollups.py)
{p}rpt:fold:{ticket}              string   a ticket's report state as JSON (models/rollup.py TicketFold)
{p}rpt:opened:{ticket}            string   dimensions captured when the ticket opened (kept by a rebuild)
{p}rpt:{proj}:{h|d|w}:{n}         hash     counters of a projection (models/rollup.py PROJECTIONS) for hour, day or week n (UTC; weeks from Monday 1970-01-05)
{p}rpt:open                       zset     "<ticket>|<team|channel|priority|policy>" -> opened at, for backlog and ageing
{p}outbox                         stream   replies to deliver, field "r" = reply id; group "send" (queue/outbox.py)
{p}outbox:dead                    stream   replies given up after the last retry: reply id, reason
{p}outbox:delay                   zset     reply id -> when its next attempt is due (back-off, Retry-After)
{p}reply:{reply_id}               hash     one reply: json (OutboundMessage), state, attempts, provider_id, reason
{p}ticket:{id}:replies            list     the ticket's reply ids, oldest first
{p}provider:{chan}:{acct}:{pid}   string   provider message id -> reply id (status callbacks); TTL
{p}macros                         hash     macro id -> JSON canned reply (queue/macros.py)
{p}ticket:{id}:labels             set      labels set on the ticket (by macros)
{p}ticket:{id}:files              set      blob refs agents uploaded for the ticket: the files a reply may attach
{p}reply:{reply_id}:parts         hash     a multi-part reply's progress: part ("text", "file:0", "media:0") -> provider or media id; TTL (queue/reply_parts.py)
{p}secret:files                   string   per-deployment HMAC secret of the public links LINE/Twilio fetch reply files from (queue/reply_parts.py)
{p}autoack:{customer}             string   the customer got an automatic acknowledgement; TTL = the window
{p}secret:status                  string   per-deployment HMAC secret of status-page links (queue/status.py)
{p}status:limit:{address}         string   status-page views from one address; TTL = window
{p}wchat:{acct}:mint:{address}    string   anonymous web-chat visitors minted for one address; TTL = window
{p}wchat:{acct}:v:{visitor}       string   one web-chat visitor's widget calls; TTL = window
{p}wchat:{acct}:s:{visitor}       string   one web-chat visitor's messages sent from the widget; TTL = window
{p}autoanswers                    hash     "<account>/<topic>" -> JSON auto-answer lookup config (queue/auto_answers.py)
{p}autoanswers:rev                string   INCR on every auto-answer config change; workers reload when it moves
{p}autoanswer                     stream   new tickets whose topic has an auto-answer: ticket, message; group "autoanswer"
{p}articles                       hash     article id -> JSON knowledge-base article (queue/articles.py)
{p}articles:log                   stream   every article change: field "a" = article id (gateways re-index it)
{p}articles:faq                   hash     "<article id>:<shown|solved|unsolved>" -> web-chat FAQ count
{p}articles:terms                 hash     article id -> JSON index terms analysed when it was written (queue/articles.py)
{p}faq:limit:{address}            string   FAQ questions and feedback from one address; TTL = window
{p}kb:solved                      stream   resolved tickets with their resolving reply, field "s" = JSON; the newest N kept
{p}kb:pos                         string   the last audit entry turned into kb:solved (queue/articles.py Solutions)
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable

DEFAULT_PREFIX = "dg:"
TENANT_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def tenant_prefix(base: str, tenant: str) -> str:
    """`base` for the one tenant of a standalone Redis (tenant ""), else "<base>{<tenant>}:"."""
    if not tenant:
        return base
    if not TENANT_PATTERN.fullmatch(tenant):
        raise ValueError(f"tenant {tenant!r}: use 1-64 letters, digits, '_', '.' or '-'")
    return f"{base}{{{tenant}}}:"


class Keys:
    """The key names. A property is a fixed key, a method a family of keys; every public
    member is rendered into Lua by `lua_key_functions`, so add keys only as members here."""

    __slots__ = ("p",)

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.p = prefix

    @property
    def ingest(self) -> str:
        return f"{self.p}ingest"

    def seen(self, message_id: str) -> str:
        return f"{self.p}seen:{message_id}"

    @property
    def dead_letter(self) -> str:
        return f"{self.p}ingest:dead"

    def msg(self, message_id: str) -> str:
        return f"{self.p}msg:{message_id}"

    @property
    def ticket_seq(self) -> str:
        return f"{self.p}ticket:seq"

    def ticket(self, ticket_id: str) -> str:
        return f"{self.p}ticket:{ticket_id}"

    def ticket_msgs(self, ticket_id: str) -> str:
        return f"{self.p}ticket:{ticket_id}:msgs"

    @property
    def tickets(self) -> str:
        return f"{self.p}tickets"

    def thread(self, channel: str, account: str, key: str) -> str:
        return f"{self.p}thread:{channel}:{account}:{key}"

    @property
    def customer_seq(self) -> str:
        return f"{self.p}cust:seq"

    def customer(self, customer_id: str) -> str:
        return f"{self.p}cust:{customer_id}"

    def customer_tickets(self, customer_id: str) -> str:
        return f"{self.p}cust:{customer_id}:tickets"

    def customer_ids(self, customer_id: str) -> str:
        return f"{self.p}cust:{customer_id}:ids"

    def customer_channel(self, customer_id: str, channel: str, account: str) -> str:
        return f"{self.p}custchan:{customer_id}:{channel}:{account}"

    def customer_claims(self, customer_id: str) -> str:
        return f"{self.p}cust:{customer_id}:claims"

    @property
    def identities(self) -> str:
        return f"{self.p}ident"

    def queue(self, skill: str) -> str:
        return f"{self.p}q:{skill}"

    @property
    def skills(self) -> str:
        return f"{self.p}skills"

    @property
    def leases(self) -> str:
        return f"{self.p}lease"

    def agent(self, agent_id: str) -> str:
        return f"{self.p}agent:{agent_id}"

    def agent_tickets(self, agent_id: str) -> str:
        return f"{self.p}agent:{agent_id}:tickets"

    @property
    def agents(self) -> str:
        return f"{self.p}agents"

    def token(self, token_hash: str) -> str:
        return f"{self.p}token:{token_hash}"

    @property
    def token_ids(self) -> str:
        return f"{self.p}tokens"

    @property
    def token_revocations(self) -> str:
        return f"{self.p}tokens:revoked"

    @property
    def review(self) -> str:
        return f"{self.p}review"

    @property
    def noise(self) -> str:
        return f"{self.p}noise"

    @property
    def audit(self) -> str:
        return f"{self.p}audit"

    @property
    def metrics(self) -> str:
        return f"{self.p}metrics"

    def imap_state(self, mailbox: str) -> str:
        return f"{self.p}imap:{mailbox}"

    def imap_lease(self, mailbox: str) -> str:
        return f"{self.p}imap:{mailbox}:lease"

    @property
    def mail_quarantine(self) -> str:
        return f"{self.p}mail:quarantine"

    def replay(self, channel: str, account: str, nonce: str) -> str:
        return f"{self.p}replay:{channel}:{account}:{nonce}"

    def session(self, session_hash: str) -> str:
        return f"{self.p}session:{session_hash}"

    def login_attempts(self, source: str) -> str:
        return f"{self.p}login:{source}"

    def skill_agents(self, skill: str) -> str:
        return f"{self.p}skill:{skill}:agents"

    @property
    def routing(self) -> str:
        return f"{self.p}routing"

    @property
    def overflow(self) -> str:
        return f"{self.p}overflow"

    def ticket_history(self, ticket_id: str) -> str:
        return f"{self.p}ticket:{ticket_id}:history"

    def ticket_notes(self, ticket_id: str) -> str:
        return f"{self.p}ticket:{ticket_id}:notes"

    def sent_to(self, address: str) -> str:
        return f"{self.p}sent:{address}"

    @property
    def tag_secret(self) -> str:
        return f"{self.p}secret:tag"

    @property
    def sla_due(self) -> str:
        return f"{self.p}sla:due"

    @property
    def sla_paused(self) -> str:
        return f"{self.p}sla:paused"

    @property
    def notify(self) -> str:
        return f"{self.p}notify"

    @property
    def notify_dead(self) -> str:
        return f"{self.p}notify:dead"

    @property
    def labels(self) -> str:
        return f"{self.p}labels"

    def models(self, task: str) -> str:
        return f"{self.p}models:{task}"

    def model(self, task: str, version: str) -> str:
        return f"{self.p}model:{task}:{version}"

    @property
    def models_current(self) -> str:
        return f"{self.p}models:current"

    @property
    def models_previous(self) -> str:
        return f"{self.p}models:previous"

    @property
    def models_events(self) -> str:
        return f"{self.p}models:events"

    @property
    def models_running(self) -> str:
        return f"{self.p}models:running"

    @property
    def history(self) -> str:
        return f"{self.p}history"

    @property
    def model_jobs(self) -> str:
        return f"{self.p}mjobs"

    def model_job_log(self, job_id: str) -> str:
        return f"{self.p}mjob:{job_id}:log"

    def model_job_cancel(self, job_id: str) -> str:
        return f"{self.p}mjob:{job_id}:cancel"

    @property
    def channels(self) -> str:
        return f"{self.p}channels"

    @property
    def channels_rev(self) -> str:
        return f"{self.p}channels:rev"

    @property
    def work(self) -> str:
        return f"{self.p}work"

    @property
    def outbox(self) -> str:
        return f"{self.p}outbox"

    @property
    def outbox_dead(self) -> str:
        return f"{self.p}outbox:dead"

    @property
    def outbox_delay(self) -> str:
        return f"{self.p}outbox:delay"

    def reply(self, reply_id: str) -> str:
        return f"{self.p}reply:{reply_id}"

    def ticket_replies(self, ticket_id: str) -> str:
        return f"{self.p}ticket:{ticket_id}:replies"

    def ticket_files(self, ticket_id: str) -> str:
        return f"{self.p}ticket:{ticket_id}:files"

    @property
    def macros(self) -> str:
        return f"{self.p}macros"

    def ticket_labels(self, ticket_id: str) -> str:
        return f"{self.p}ticket:{ticket_id}:labels"

    def auto_answered(self, customer_id: str) -> str:
        return f"{self.p}autoack:{customer_id}"

    def provider_message(self, channel: str, account: str, provider_id: str) -> str:
        return f"{self.p}provider:{channel}:{account}:{provider_id}"

    @property
    def models_queue(self) -> str:
        """The rq queue name (rq stores it as rq:queue:<name>)."""
        return f"{self.p}models"

    def access_token(self, name: str) -> str:
        return f"{self.p}atoken:{name}"

    def access_token_lock(self, name: str) -> str:
        return f"{self.p}atoken:{name}:lock"

    def wecom_cursor(self, account: str) -> str:
        return f"{self.p}wecom:{account}:cursor"

    def wecom_lease(self, account: str) -> str:
        return f"{self.p}wecom:{account}:lease"

    @property
    def rpt_pos(self) -> str:
        return f"{self.p}rpt:pos"

    def rpt_fold(self, ticket_id: str) -> str:
        return f"{self.p}rpt:fold:{ticket_id}"

    def rpt_opened(self, ticket_id: str) -> str:
        return f"{self.p}rpt:opened:{ticket_id}"

    def rpt_bucket(self, proj: str, gran: str, n: int) -> str:
        return f"{self.p}rpt:{proj}:{gran}:{n}"

    @property
    def rpt_open(self) -> str:
        return f"{self.p}rpt:open"

    def rpt_pattern(self, proj: str) -> str:
        """Every bucket of a projection (a rebuild clears them)."""
        return f"{self.p}rpt:{proj}:*"

    @property
    def rpt_fold_pattern(self) -> str:
        """Every ticket's report state (a rebuild clears them)."""
        return f"{self.p}rpt:fold:*"

    @property
    def csat_secret(self) -> str:
        return f"{self.p}secret:csat"

    @property
    def csat_offers(self) -> str:
        return f"{self.p}csat:offers"

    def csat_attempts(self, source: str) -> str:
        return f"{self.p}csat:limit:{source}"

    @property
    def status_secret(self) -> str:
        return f"{self.p}secret:status"

    def status_views(self, source: str) -> str:
        return f"{self.p}status:limit:{source}"

    def visitor_mints(self, account: str, source: str) -> str:
        return f"{self.p}wchat:{account}:mint:{source}"

    def visitor_calls(self, account: str, visitor: str) -> str:
        return f"{self.p}wchat:{account}:v:{visitor}"

    def visitor_sends(self, account: str, visitor: str) -> str:
        return f"{self.p}wchat:{account}:s:{visitor}"

    def wecom_polled(self, account: str) -> str:
        return f"{self.p}wecom:{account}:polled"

    def reply_parts(self, reply_id: str) -> str:
        return f"{self.p}reply:{reply_id}:parts"

    @property
    def file_link_secret(self) -> str:
        return f"{self.p}secret:files"

    def csat_views(self, source: str) -> str:
        return f"{self.p}csat:views:{source}"

    @property
    def csat_due(self) -> str:
        return f"{self.p}csat:due"

    def summary(self, team: str, day: str) -> str:
        return f"{self.p}summary:{team}:{day}"

    @property
    def rpt_team_since(self) -> str:
        return f"{self.p}rpt:team_since"

    @property
    def auto_answers(self) -> str:
        return f"{self.p}autoanswers"

    @property
    def auto_answers_rev(self) -> str:
        return f"{self.p}autoanswers:rev"

    @property
    def auto_answer_stream(self) -> str:
        return f"{self.p}autoanswer"

    @property
    def articles(self) -> str:
        return f"{self.p}articles"

    @property
    def articles_log(self) -> str:
        return f"{self.p}articles:log"

    @property
    def articles_faq(self) -> str:
        return f"{self.p}articles:faq"

    @property
    def articles_terms(self) -> str:
        return f"{self.p}articles:terms"

    def faq_attempts(self, source: str) -> str:
        return f"{self.p}faq:limit:{source}"

    @property
    def kb_solved(self) -> str:
        return f"{self.p}kb:solved"

    @property
    def kb_pos(self) -> str:
        return f"{self.p}kb:pos"

# A character no key part contains: marks where an argument lands in a rendered name.
_MARK = "\x00"


def key_template(name: str) -> tuple[tuple[str, ...], list[str]]:
    """The member's parameter names and its name split into literal and parameter parts."""
    member = inspect.getattr_static(Keys, name)
    if isinstance(member, property):
        params: tuple[str, ...] = ()
        rendered = getattr(Keys(_MARK + "p" + _MARK), name)
    else:
        params = tuple(inspect.signature(member).parameters)[1:]
        rendered = getattr(Keys(_MARK + "p" + _MARK), name)(*(_MARK + a + _MARK for a in params))
    return params, rendered.split(_MARK)


def key_names() -> list[str]:
    """Every key family Keys defines, by member name."""
    return [n for n, m in vars(Keys).items()
            if not n.startswith("_") and (isinstance(m, property) or inspect.isfunction(m))]


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def lua_key_function(name: str) -> str:
    """`function K.<name>(<params>) return P .. '<literal>' .. <param> ... end`."""
    params, parts = key_template(name)
    # parts alternate literal, parameter, literal, ...; the prefix is the first parameter
    pieces = []
    for i, part in enumerate(parts):
        if i % 2 == 1:
            pieces.append("P" if part == "p" else part)
        elif part:
            pieces.append(_lua_string(part))
    return f"function K.{name}({', '.join(params)}) return {' .. '.join(pieces)} end"


def lua_key_functions(names: Iterable[str]) -> str:
    """The Lua key builder for a script that uses `names`: P is the key prefix, which every
    script that builds keys receives as ARGV[1]."""
    lines = ["local P = ARGV[1]", "local K = {}"]
    lines += [lua_key_function(n) for n in sorted(set(names))]
    return "\n".join(lines) + "\n"
