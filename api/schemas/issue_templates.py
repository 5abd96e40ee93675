"""Issue template schemas."""

from marshmallow import ValidationError, fields, validate, validates_schema

from api.schemas.base import ID_RANGE, BaseSchema, StrictBoolean, Text, not_blank

VARIABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}(?!\n)$"  # (?!\n): Python's $ also matches before a final newline


class VariableSchema(BaseSchema):
    name = Text(required=True, validate=validate.Regexp(VARIABLE_NAME, error="A letter or '_' then letters, digits, '_'."))
    description = Text(load_default="", validate=validate.Length(max=500))
    required = StrictBoolean(load_default=False)
    default = Text(
        allow_none=True,
        load_default=None,
        validate=validate.Length(max=10_000),
        metadata={"description": "used when the variable is not given; must match `pattern`"},
    )
    pattern = Text(
        allow_none=True,
        load_default=None,
        validate=validate.Length(max=500),
        metadata={"description": "regular expression the whole value must match", "format": "regex"},
    )


class IssueTemplateSchema(BaseSchema):
    id = fields.Integer(dump_only=True)
    name = Text(required=True, validate=[validate.Length(min=1, max=100), not_blank], metadata={"example": "Bug report"})
    description = Text(load_default="", validate=validate.Length(max=500))
    title = Text(
        required=True, validate=[validate.Length(min=1, max=2000), not_blank], metadata={"example": "[Bug] {{ summary }}"}
    )
    body = Text(load_default="", validate=validate.Length(max=20_000), metadata={"example": "Steps to reproduce:\n{{ steps }}"})
    labels = fields.List(
        Text(validate=[validate.Length(min=1, max=100), not_blank]), load_default=list, validate=validate.Length(max=50)
    )
    assignees = fields.List(Text(validate=validate.Length(min=1, max=100)), load_default=list, validate=validate.Length(max=20))
    tracker_id = fields.Integer(
        allow_none=True, load_default=None, metadata={"description": "default tracker: one of your trackers", **ID_RANGE}
    )
    variables = fields.List(
        fields.Nested(VariableSchema),
        load_default=list,
        validate=validate.Length(max=50),
        metadata={"description": "each name at most once; title, body, labels and assignees may use only these variables"},
    )
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    @validates_schema
    def _unique_variable_names(self, data, **kwargs):
        names = [variable["name"] for variable in data.get("variables") or []]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValidationError({"variables": [f"Declared more than once: {', '.join(duplicates)}"]})


class RenderRequestSchema(BaseSchema):
    variables = fields.Dict(
        keys=Text(validate=validate.Length(max=64)),
        values=Text(validate=validate.Length(max=10_000)),
        load_default=dict,
        metadata={
            "description": "values of the template's declared variables only; each required one "
            "without a default must be given, and a value must match its pattern"
        },
    )


class RenderedTemplateSchema(BaseSchema):
    title = fields.String()
    description = fields.String()
    labels = fields.List(fields.String())
    assignees = fields.List(fields.String())


class TemplateIssueRequestSchema(RenderRequestSchema):
    tracker_id = fields.Integer(
        allow_none=True,
        load_default=None,
        metadata={
            "description": "where to create it (one of your trackers); required when the template has no tracker of its own",
            **ID_RANGE,
        },
    )


class TemplateIssueSchema(BaseSchema):
    tracker_id = fields.Integer()
    issue_id = fields.String()
    url = fields.String(allow_none=True)
    title = fields.String()
    created_at = fields.DateTime()


class TemplateImportRequestSchema(BaseSchema):
    tracker_id = fields.Integer(required=True)


class ImportSkippedSchema(BaseSchema):
    file = fields.String()
    reason = fields.String()


class TemplateImportResultSchema(BaseSchema):
    imported = fields.List(fields.Nested(IssueTemplateSchema), required=True)
    skipped = fields.List(fields.Nested(ImportSkippedSchema), required=True)


issue_template_schema = IssueTemplateSchema()
render_request_schema = RenderRequestSchema()
rendered_template_schema = RenderedTemplateSchema()
template_issue_request_schema = TemplateIssueRequestSchema()
template_issue_schema = TemplateIssueSchema()
template_import_request_schema = TemplateImportRequestSchema()
template_import_result_schema = TemplateImportResultSchema()
