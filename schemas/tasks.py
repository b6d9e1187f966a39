"""The ``tasks`` section: which task views of tag_builder's registry each record of a corpus feeds."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.base import Strict
from tag_builder.tasks import REGISTRY

TaskName = Literal[tuple(REGISTRY)]  # type: ignore[valid-type]


class TaskBinding(Strict):
    task: TaskName = Field(description="a task of tag_builder's registry")
    source: str | None = Field(
        None, description="record field holding the target (text, captions, labels.<name>); default: the task's"
    )
