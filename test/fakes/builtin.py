"""The built-in tracker has no remote side and so no fake: only how the shared suites connect one."""

from __future__ import annotations

from test.fakes import kit
from test.fakes.kit import ContractVariant, Setup


def _contract(fake, connect, user):
    return Setup(connect(provider="builtin", target="contract"), member=user.username)


def _audit(fake, mark):
    return {"provider": "builtin", "target": "audit"}, {}


CONTRACT_VARIANTS = [
    ContractVariant(
        "builtin",
        setup=_contract,
        audit=_audit,
        capabilities=kit.capability_set(
            "issues comments labels members due_date in_progress priority issue_type parent"
            " comment_edit comment_delete issue_delete attachments"
        ),
    )
]
