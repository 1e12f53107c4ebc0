"""Every route the gateway serves, in one place and in matching order (aiohttp tries routes in
the order they were added; the first match wins). Handlers live one module per resource in
gateway/web/api/; they declare their roles and policy with @requires, and `api_route` refuses a
handler that declares none, so a new route is closed until someone decides who may call it.
Each API route is also recorded for the OpenAPI document (gateway/web/openapi.py), which
therefore cannot drift from what is served."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from deskgate.gateway.web import (
    console,
    csat,
    faq,
    health,
    public_files,
    ticket_status,
    webchat_replies,
    webchat_visitor,
    webhooks,
)
from deskgate.gateway.web.api import (
    articles,
    auto_answers,
    channels,
    classifiers,
    files,
    macros,
    messages,
    records,
    replies,
    reports,
    review,
    sla,
    stats,
    suggestions,
    tickets,
    tokens,
    work,
)
from deskgate.gateway.web.auth import declared_policy, declared_roles
from deskgate.gateway.web.openapi import OPERATIONS, Operation
from deskgate.models.article import ArticleIn
from deskgate.models.auto_answer import LookupConfig
from deskgate.models.macros import Macro
from deskgate.models.routing import RoutingTable
from deskgate.models.sla import SlaConfig


def api_route(app: web.Application, method: str, path: str, handler: Any, *,
              body: Any = None, tag: str = "api") -> None:
    roles, policy = declared_roles(handler), declared_policy(handler)
    if roles is None or policy is None:
        raise ValueError(f"{method} {path}: declare roles and a policy with @requires")
    app.router.add_route(method, path, handler)
    summary = (handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else path
    app.setdefault(OPERATIONS, []).append(Operation(
        method=method.lower(), path=path, summary=summary,
        roles=tuple(sorted(r.value for r in roles)), policy=policy.name,
        scope=policy.rule, body=body, tag=tag))


def add_routes(app: web.Application) -> None:
    # liveness, metrics, the OpenAPI document
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_get("/api/v1/openapi.json", health.openapi_handler())

    # intake
    api_route(app, "POST", "/api/v1/messages", messages.post_message, body=messages.MessageIn,
              tag="intake")
    api_route(app, "GET", "/api/v1/messages/{message_id}", messages.get_message, tag="intake")

    # records: noise and quarantined mail
    api_route(app, "GET", "/api/v1/noise", records.noise, tag="records")
    api_route(app, "GET", "/api/v1/email/quarantine", records.quarantine, tag="records")

    # tickets, queues, agents
    api_route(app, "GET", "/api/v1/tickets", tickets.list_tickets, tag="tickets")
    api_route(app, "GET", "/api/v1/tickets/{ticket_id}", tickets.get_ticket, tag="tickets")
    api_route(app, "POST", "/api/v1/tickets/{ticket_id}/resolve", tickets.resolve,
              body=tickets.ResolveIn, tag="tickets")
    api_route(app, "GET", "/api/v1/queues", tickets.queues, tag="queues")
    api_route(app, "POST", "/api/v1/agents/{agent_id}/claim", tickets.claim, tag="agents")
    api_route(app, "PUT", "/api/v1/agents/{agent_id}", tickets.put_agent, body=tickets.AgentIn,
              tag="agents")
    api_route(app, "GET", "/api/v1/agents/{agent_id}", tickets.get_agent, tag="agents")

    # an agent's work on a claimed ticket, agent status, the status board
    t = "/api/v1/tickets/{ticket_id}"
    api_route(app, "POST", f"{t}/renew", work.renew, tag="work")
    api_route(app, "POST", f"{t}/release", work.release, tag="work")
    api_route(app, "POST", f"{t}/transfer", work.transfer, body=work.TransferIn, tag="work")
    api_route(app, "POST", f"{t}/notes", work.add_note, body=work.NoteIn, tag="work")
    api_route(app, "GET", f"{t}/notes", work.list_notes, tag="work")
    api_route(app, "POST", f"{t}/respond", work.respond, tag="work")
    api_route(app, "POST", f"{t}/pending", work.pending, tag="work")
    api_route(app, "POST", f"{t}/reopen", work.reopen, body=work.ReopenIn, tag="work")
    api_route(app, "GET", f"{t}/history", work.history, tag="work")
    api_route(app, "GET", "/api/v1/agents/{agent_id}/tickets", work.agent_tickets, tag="agents")
    api_route(app, "PUT", "/api/v1/agents/{agent_id}/status", work.set_status,
              body=work.StatusIn, tag="agents")
    api_route(app, "GET", "/api/v1/status", work.status_board, tag="queues")

    # replies to the customer, and the macros they may use
    api_route(app, "POST", f"{t}/replies", replies.post_reply, body=replies.ReplyIn,
              tag="replies")
    api_route(app, "GET", f"{t}/replies", replies.list_replies, tag="replies")
    api_route(app, "POST", f"{t}/files", files.upload, tag="replies")
    api_route(app, "GET", "/api/v1/macros", macros.list_macros, tag="macros")
    api_route(app, "PUT", "/api/v1/macros/{macro_id}", macros.put_macro, body=Macro,
              tag="macros")
    api_route(app, "DELETE", "/api/v1/macros/{macro_id}", macros.delete_macro, tag="macros")
    api_route(app, "GET", f"{t}/macros/{{macro_id}}", macros.preview, tag="macros")

    # the review queue, the audit trail, the routing table
    api_route(app, "GET", "/api/v1/review", review.list_review, tag="review")
    api_route(app, "POST", "/api/v1/review/{ticket_id}", review.review_action,
              body=review.ReviewActionIn, tag="review")
    api_route(app, "GET", "/api/v1/audit", review.audit, tag="review")
    api_route(app, "GET", "/api/v1/routing", review.get_routing, tag="routing")
    api_route(app, "PUT", "/api/v1/routing", review.put_routing, body=RoutingTable,
              tag="routing")
    api_route(app, "DELETE", "/api/v1/routing", review.reset_routing, tag="routing")

    # provider webhooks (verified per channel and account, not by token)
    app.router.add_route("GET", "/webhooks/{channel}/{account}", webhooks.handle)
    app.router.add_route("POST", "/webhooks/{channel}/{account}", webhooks.handle)
    # the web-chat site backend fetching agents' replies for its visitors (signed like its
    # deliveries)
    app.router.add_get("/webchat/{account}/replies", webchat_replies.fetch)
    app.router.add_post("/webchat/{account}/replies/{reply_id}/read", webchat_replies.mark_read)

    # the customer's satisfaction survey (a signed link is the authorisation, no login)
    app.router.add_get("/csat/{token}", csat.page)
    app.router.add_post("/csat/{token}", csat.submit)
    # a reply's file for the provider that fetches it (LINE, Twilio): the signed link is the
    # authorisation, for that one file
    app.router.add_get("/files/{token}", public_files.serve)

    # the customer's ticket status page (a signed link is the authorisation, no login)
    app.router.add_get("/status/{token}", ticket_status.page)
    # the visitor chat widget: its files, and its calls from the site's page (a visitor token
    # and the account's allowed origins are the authorisation)
    app.router.add_get("/webchat/{name:widget\\.(?:js|css)}", webchat_visitor.widget_file)
    v = "/webchat/{account}/visitor"
    app.router.add_route("OPTIONS", "/webchat/{account}/{path:visitors?(?:/.*)?}",
                         webchat_visitor.preflight)
    app.router.add_post("/webchat/{account}/visitors", webchat_visitor.mint)
    app.router.add_post(f"{v}/messages", webchat_visitor.post_message)
    app.router.add_get(f"{v}/replies", webchat_visitor.poll)
    app.router.add_post(f"{v}/replies/{{reply_id}}/read", webchat_visitor.mark_read)

    # channel accounts
    account = "/api/v1/channels/{channel}/{account}"
    api_route(app, "GET", "/api/v1/channels", channels.list_channels, tag="channels")
    api_route(app, "PUT", account, channels.put_account, body=dict[str, Any], tag="channels")
    api_route(app, "DELETE", account, channels.delete_account, tag="channels")

    # teams and SLA policies
    api_route(app, "GET", "/api/v1/sla", sla.get_sla, tag="sla")
    api_route(app, "PUT", "/api/v1/sla", sla.put_sla, body=SlaConfig, tag="sla")
    api_route(app, "DELETE", "/api/v1/sla", sla.reset_sla, tag="sla")

    # auto-answers from the business's own lookup webhooks (docs/auto-answer.md)
    aa = "/api/v1/auto-answers/{account}/{topic}"
    api_route(app, "GET", "/api/v1/auto-answers", auto_answers.list_auto_answers,
              tag="auto-answers")
    api_route(app, "GET", aa, auto_answers.get_auto_answer, tag="auto-answers")
    api_route(app, "PUT", aa, auto_answers.put_auto_answer, body=LookupConfig,
              tag="auto-answers")
    api_route(app, "DELETE", aa, auto_answers.delete_auto_answer, tag="auto-answers")
    api_route(app, "POST", f"{aa}/test", auto_answers.test_auto_answer,
              body=auto_answers.TestIn, tag="auto-answers")

    # reports over the rollups (queue/rollups.py)
    api_route(app, "GET", "/api/v1/reports/{name}", reports.get_report, tag="reports")

    # the console's boards and tokens
    api_route(app, "GET", "/api/v1/stats/board", stats.board, tag="stats")
    api_route(app, "GET", "/api/v1/stats/volume", stats.volume, tag="stats")
    api_route(app, "GET", "/api/v1/tokens", tokens.list_tokens, tag="tokens")
    api_route(app, "POST", "/api/v1/tokens", tokens.create, body=tokens.TokenIn, tag="tokens")
    api_route(app, "DELETE", "/api/v1/tokens/{token_id}", tokens.revoke, tag="tokens")

    # the console: pages, session, live events, static files
    app.router.add_get("/console", console.to_index)
    app.router.add_get("/console/", console.index)
    app.router.add_post("/console/login", console.login)
    app.router.add_post("/console/logout", console.logout)
    app.router.add_get("/console/session", console.session_info)
    app.router.add_get("/console/events", console.events)
    app.router.add_static("/console/static/", console.STATIC_DIR, show_index=False,
                          follow_symlinks=False)

    # classifiers: /models/jobs/... before /models/{task}/{version}: the first match wins
    c, tag = classifiers, "models"
    api_route(app, "GET", "/api/v1/models/jobs", c.list_jobs, tag=tag)
    api_route(app, "GET", "/api/v1/models/jobs/{job_id}", c.get_job, tag=tag)
    api_route(app, "POST", "/api/v1/models/jobs/{job_id}/cancel", c.cancel_job, tag=tag)
    api_route(app, "POST", "/api/v1/models/uploads", c.upload, tag=tag)
    api_route(app, "POST", "/api/v1/models/import", c.start_import, body=c.ImportIn, tag=tag)
    api_route(app, "POST", "/api/v1/models/train", c.start_training, body=c.TrainIn, tag=tag)
    api_route(app, "GET", "/api/v1/models", c.list_models, tag=tag)
    api_route(app, "GET", "/api/v1/models/{task}/{version}", c.get_model, tag=tag)
    api_route(app, "POST", "/api/v1/models/{task}/{version}/evaluate", c.evaluate,
              body=c.EvaluateIn, tag=tag)
    api_route(app, "POST", "/api/v1/models/{task}/{version}/promote", c.promote, tag=tag)
    api_route(app, "POST", "/api/v1/models/{task}/rollback", c.rollback, tag=tag)

    # the knowledge base: articles, a ticket's suggestions, the web-chat FAQ (public, per
    # configured web-chat account, rate-limited per address)
    api_route(app, "GET", "/api/v1/articles", articles.list_articles, tag="knowledge")
    api_route(app, "GET", "/api/v1/articles/{article_id}", articles.get_article, tag="knowledge")
    api_route(app, "PUT", "/api/v1/articles/{article_id}", articles.put_article, body=ArticleIn,
              tag="knowledge")
    api_route(app, "DELETE", "/api/v1/articles/{article_id}", articles.delete_article,
              tag="knowledge")
    api_route(app, "GET", f"{t}/suggestions", suggestions.suggestions, tag="knowledge")
    app.router.add_get("/webchat/{account}/faq", faq.answer)
    app.router.add_post("/webchat/{account}/faq/feedback", faq.feedback)
    # the widget calls these from the site's origin: the same preflight as its other calls
    app.router.add_get("/webchat/{account}/faq/{article_id}", faq.article)
    app.router.add_route("OPTIONS", "/webchat/{account}/{path:faq(?:/.*)?}",
                         webchat_visitor.preflight)
