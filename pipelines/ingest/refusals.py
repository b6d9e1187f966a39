"""How ingest refuses a row: the stage its drops name, and the exception a rule raises to refuse one."""
from __future__ import annotations

from pipelines.core.record import Refusal

STAGE = "ingest"


class Refused(Refusal):
    """A metadata row that is not a usable record (raised by a rule; ``map_rows`` turns it into a drop)."""
