"""Suggestions for the agent on a ticket: the most similar resolved tickets with the reply that
resolved them, and the most relevant published articles, public and agents-only alike (each
says its audience; the ticket's language first), each with its score and why (the words and
identifiers it shares with the ticket).

Similar tickets are only those the caller could open themselves (the ticket rule of
gateway/web/scope.py: an agent's skills and own tickets, a manager's teams), which is stricter
than Zendesk's "any solved ticket"; what is shown of them is their subject and the resolving
reply with the customer's name, phone numbers and email addresses masked, never the
customer or the question."""

from __future__ import annotations

from aiohttp import web

from deskgate.gateway.knowledge import KNOWLEDGE, snippet_json, ticket_question
from deskgate.gateway.web.api.common import store
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.scope import TICKET, scope, target
from deskgate.models.enums import Role
from deskgate.models.ticket import Ticket
from deskgate.triage.retrieval import analyze

SHOWN = 5


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def suggestions(request: web.Request) -> web.Response:
    """Five similar resolved tickets (with their resolving reply) and five articles for this
    ticket, each with its score and the shared words."""
    t = target(request, Ticket)
    kb = request.app[KNOWLEDGE]
    messages = await store(request).messages(t)
    query = analyze(ticket_question(t, [m.text for m in messages]))
    language = t.triage.language if t.triage else ""
    similar = kb.suggest_tickets(query, scope(request), exclude=t.id, k=SHOWN)
    texts = await kb.solved_texts([f.key for f in similar])
    tickets = [{"id": f.key, "subject": texts[f.key].subject, "reply": texts[f.key].reply,
                "language": texts[f.key].language, "resolved_at": texts[f.key].resolved_at,
                "score": f.score,
                "why": {"terms": list(f.why.terms), "entities": list(f.why.entities)}}
               for f in similar if f.key in texts]
    articles = []
    for a, f in kb.suggest_articles(query, language, SHOWN):
        articles.append({"id": a.id, "title": a.title, "locale": a.locale,
                         "audience": a.audience, "body": a.body,
                         "snippet": snippet_json(a.body, query.text), "score": f.score,
                         "why": {"terms": list(f.why.terms), "entities": list(f.why.entities)}})
    return web.json_response({"ticket": t.id, "ready": kb.ready, "tickets": tickets,
                              "articles": articles})
