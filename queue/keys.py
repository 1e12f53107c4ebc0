"""Every Redis key Deskgate uses, named once, under one configurable prefix (default "dg:").

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
{p}models:{task}                  zset     registered model versions of a task -> created (queue/model_registry.py)
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
"""

from __future__ import annotations

DEFAULT_PREFIX = "dg:"


class Keys:
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
    def models_queue(self) -> str:
        """The rq queue name (rq stores it as rq:queue:<name>)."""
        return f"{self.p}models"
