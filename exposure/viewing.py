"""What happens when a person looks at an item: the ledger entry, then the policy
evaluated in the same transaction, so a break that this exposure triggers is in force
before the response leaves (the next request is refused)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from exposure import daily, ledger
from exposure.alerts import Routes
from exposure.evaluate import Firing, evaluate
from exposure.models import Attachment, ExposureEvent
from exposure.policy import Policy, Rule


@dataclass(frozen=True)
class Viewed:
    event: ExposureEvent
    firings: list[Firing]


def _modality(attachment: Attachment) -> str:
    if attachment.media_kind == "video":
        return "video"
    return "animation" if attachment.frames > 1 else "image"


def _event_rules(policy: Policy) -> list[Rule]:
    return [r for r in policy.rules if not r.time_based]


def record_view(
    session: Session,
    policy: Policy,
    routes: Routes,
    user_id: int,
    attachment: Attachment,
    *,
    level: int,
    client_event_id: str,
    now: datetime,
) -> Viewed:
    event, created = ledger.record_view(
        session,
        user_id,
        attachment,
        level=level,
        region=None,
        modality=_modality(attachment),
        client_event_id=client_event_id,
        now=now,
        table=policy.categories,
        basis=daily.Basis.of(policy),
    )
    firings = evaluate(session, policy, user_id, now, routes=routes, rules=_event_rules(policy))
    return Viewed(event, firings if created else [])


@dataclass(frozen=True)
class Revealed:
    grant: ledger.Grant
    firings: list[Firing]


def reveal(
    session: Session,
    policy: Policy,
    routes: Routes,
    user_id: int,
    attachment: Attachment,
    *,
    level: int,
    region: tuple[float, float, float, float] | None,
    client_event_id: str,
    now: datetime,
    ttl_seconds: int,
    audio: bool = False,
) -> Revealed:
    """Log a deliberate reveal (unmuting a video's sound is one too) and grant its rendition."""
    grant = ledger.reveal(
        session,
        user_id,
        attachment,
        level=level,
        region=region,
        client_event_id=client_event_id,
        now=now,
        ttl_seconds=ttl_seconds,
        modality="audio" if audio else _modality(attachment),
        table=policy.categories,
        basis=daily.Basis.of(policy),
    )
    firings = evaluate(session, policy, user_id, now, routes=routes, rules=_event_rules(policy))
    return Revealed(grant, firings)
