"""SQLAlchemy models; importing this package registers every table on the metadata."""

from api.models.issue_templates import IssueTemplate, TemplateIssue
from api.models.offers import Offer
from api.models.trackers import BuiltinComment, BuiltinIssue, BuiltinLabel, IdempotencyRecord, Tracker
from api.models.users import User

__all__ = ["BuiltinComment", "BuiltinIssue", "BuiltinLabel", "IdempotencyRecord", "IssueTemplate", "Offer",
           "TemplateIssue", "Tracker", "User"]
