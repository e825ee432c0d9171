"""/api/v1 routes of the templates area (api.md "Resources": templates), publishing included
(POST /strategies/{id}/publish lives here: it makes a template)."""

from __future__ import annotations

import uuid

from api.pagination import Page, paginate
from api.registry import Call, Routes
from api.schemas.templates import (
    CloneOut,
    PublishIn,
    TemplateOut,
    TemplatePatch,
    TemplateQuery,
)
from strategies import templates

routes = Routes("templates")


@routes.get("/templates")
async def list_templates(call: Call, query: TemplateQuery) -> Page[TemplateOut]:
    """Templates on offer (active ones).

    `search` matches part of the name or description; `sort=clones` puts the most cloned
    first, `sort=newest` (the default) the latest published."""
    statement = templates.browse(search=query.search, sort=query.sort)
    return await paginate(call.session, statement, query, TemplateOut.from_row)


@routes.get("/templates/{template_id}")
async def get_template(call: Call, template_id: uuid.UUID) -> TemplateOut:
    """One template: an active one, or one of my own unpublished ones."""
    template = await templates.visible_template(
        call.session, viewer_id=call.user.id, template_id=template_id
    )
    return TemplateOut.from_row(template)


@routes.post("/strategies/{strategy_id}/publish", status=201)
async def publish_strategy(call: Call, strategy_id: uuid.UUID, body: PublishIn) -> TemplateOut:
    """Offer one of my strategies as a template.

    One active template per strategy (409 TEMPLATE_ALREADY_PUBLISHED); an archived strategy
    cannot be published (409 STRATEGY_ARCHIVED)."""
    template = await templates.publish(
        call.session,
        author_id=call.user.id,
        strategy_id=strategy_id,
        name=body.name,
        description=body.description,
        price_credits=body.price_credits,
    )
    return TemplateOut.from_row(template)


@routes.patch("/templates/{template_id}")
async def update_template(call: Call, template_id: uuid.UUID, body: TemplatePatch) -> TemplateOut:
    """Change the name, description or price of my active template."""
    template = await templates.update_template(
        call.session, author_id=call.user.id, template_id=template_id, changes=body.changes()
    )
    return TemplateOut.from_row(template)


@routes.delete("/templates/{template_id}")
async def unpublish_template(call: Call, template_id: uuid.UUID) -> None:
    """Take my template off offer (it stays, inactive, for the clones made of it)."""
    await templates.unpublish(call.session, author_id=call.user.id, template_id=template_id)


@routes.post("/templates/{template_id}/clone", status=201, idempotent=True)
async def clone_template(call: Call, template_id: uuid.UUID) -> CloneOut:
    """Buy a copy of a template as a new private DRAFT strategy of mine.

    Pays `price_credits` (TEMPLATE_CLONE), copies the definition and counts the clone, all in
    one transaction: not enough credits is 402 INSUFFICIENT_CREDITS with nothing done; my own
    template is 409 OWN_TEMPLATE. Send an Idempotency-Key to make a retry safe."""
    clone = await templates.clone(call.session, cloner_id=call.user.id, template_id=template_id)
    return CloneOut.of(clone)
