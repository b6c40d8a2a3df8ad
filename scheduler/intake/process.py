"""Intake: from a stored delivery to its effect (a queued ticket, ...), once.

`process_delivery` loads a delivery, hands it to the handler of its event (`table`), and
closes it. Handlers decide; they are safe to run twice because a closed delivery is never
handled again and the store's claims refuse double work. A body that does not read is closed
as a refusal, never retried.
"""

from scheduler.intake.payloads import BadDelivery, read_text
from scheduler.intake.shapes import Handled, IntakeDeps
from scheduler.intake.table import handle
from worker.logs import get_logger
from worker.store.models import DeliveryStatus
from worker.store.repo import close_delivery, get_delivery

log = get_logger(__name__)


def process_delivery(delivery_id: str, deps: IntakeDeps) -> DeliveryStatus | None:
    """Handle a stored delivery once; None when it is unknown or already handled."""
    delivery = get_delivery(deps.engine, delivery_id)
    if delivery is None or delivery.status != DeliveryStatus.RECEIVED:
        return None
    try:
        done = handle(delivery.event, read_text(delivery.payload), deps)
    except BadDelivery as exc:
        done = Handled(DeliveryStatus.IGNORED, f"refused: {exc}")
    close_delivery(deps.engine, delivery_id, done.status, done.note, done.ticket_id)
    log.info(
        "delivery handled",
        delivery=delivery_id,
        gh_event=delivery.event,
        status=done.status,
        note=done.note,
        ticket_id=done.ticket_id,
    )
    return done.status
