"""SQLAlchemy models; importing this package registers every table on the metadata."""

from api.models.automations import Automation, AutomationRun
from api.models.events import Event
from api.models.idempotency import IdempotencyRecord
from api.models.index import EventChangeHash, IndexedIssue
from api.models.issue_templates import IssueTemplate, TemplateIssue
from api.models.offers import Offer
from api.models.ratelimit import RateLimitCounter
from api.models.subscriptions import DeliveryAttempt, OutboundDelivery, Subscription
from api.models.sync import Sync, SyncComment, SyncLink
from api.models.trackers import (
    BuiltinAttachment,
    BuiltinAttachmentChunk,
    BuiltinComment,
    BuiltinIssue,
    BuiltinLabel,
    Tracker,
)
from api.models.users import User
from api.models.webhooks import GatewayChange, WebhookBodyHash, WebhookDelivery

__all__ = [
    "Automation",
    "AutomationRun",
    "BuiltinAttachment",
    "BuiltinAttachmentChunk",
    "BuiltinComment",
    "BuiltinIssue",
    "BuiltinLabel",
    "DeliveryAttempt",
    "Event",
    "EventChangeHash",
    "GatewayChange",
    "IdempotencyRecord",
    "IndexedIssue",
    "IssueTemplate",
    "Offer",
    "OutboundDelivery",
    "RateLimitCounter",
    "Subscription",
    "Sync",
    "SyncComment",
    "SyncLink",
    "TemplateIssue",
    "Tracker",
    "User",
    "WebhookBodyHash",
    "WebhookDelivery",
]
