"""``pressroom subscribers show EMAIL``: a subscriber and the consent history that proves
how they came to their status, as
:func:`pressroom.subscribers.lifecycle.subscriber_history` reads them."""

from __future__ import annotations

from datetime import tzinfo

from pressroom.incoming import printable
from pressroom.models import ConsentEvent, Subscriber

__all__ = ["history_lines"]


def history_lines(subscriber: Subscriber, events: list[ConsentEvent], zone: tzinfo) -> list[str]:
    """The lines ``subscribers show`` prints; times in the site's zone, control characters
    escaped (:func:`pressroom.incoming.printable`)."""

    def when(event: ConsentEvent) -> str:
        return f"{event.at.astimezone(zone):%Y-%m-%d %H:%M:%S %z}"

    s = subscriber
    lines = [
        f"email: {s.email}",
        f"name: {s.name}",
        f"status: {s.status}",
        f"frequency: {s.frequency}",
        f"sections: {','.join(s.sections) or '*'}",
        f"bounces: {s.bounces}",
        f"created: {s.created_at.astimezone(zone):%Y-%m-%d %H:%M:%S %z}" if s.created_at else "",
        f"consent history ({len(events)} events):",
    ]
    for e in events:
        change = f"{e.from_status or '(new)'} -> {e.to_status}"
        extra = "".join([f" from {e.ip}" if e.ip else "", f" ({e.note})" if e.note else ""])
        lines.append(f"  {when(e)}  {change}  by {e.source}{extra}")
    return [printable(line) for line in lines if line]  # notes quote inbound mail
