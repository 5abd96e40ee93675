"""Job offer schemas; the JSON shape is the original job-offers API's."""

from marshmallow import fields, validate

from api.schemas.base import BaseSchema, PageQuerySchema, Text, list_of, not_blank, partial_of


class OfferSchema(BaseSchema):
    id = fields.Integer(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    title = Text(required=True, validate=[validate.Length(min=1, max=120), not_blank], metadata={"example": "Backend Engineer"})
    description = Text(load_default="", validate=validate.Length(max=5000), metadata={"example": "Build a RESTful API"})
    skills_list = fields.List(
        Text(validate=[validate.Length(min=1, max=50), not_blank]),
        load_default=list,
        validate=validate.Length(max=50),
        metadata={"example": ["python", "flask", "DevOps"]},
    )
    creation_date = fields.DateTime(dump_only=True)
    modification_date = fields.DateTime(dump_only=True)


class OfferSearchQuerySchema(PageQuerySchema):
    skill = Text(
        validate=validate.Length(min=1, max=50), metadata={"description": "offers listing this skill (case-insensitive)"}
    )
    q = Text(validate=validate.Length(min=1, max=100), metadata={"description": "text in the title or description"})


offer_schema = OfferSchema()
update_offer_schema = partial_of(OfferSchema)
# The original API's list shape: the total `count` beside the page.
offer_list_schema = list_of(
    offer_schema, "offers", count=fields.Integer(required=True, metadata={"description": "total number of matching offers"})
)
offer_search_query_schema = OfferSearchQuerySchema()
