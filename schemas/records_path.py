"""The `records` path of a JSON layout (`audios[*].segments[*]`): parsed here, where the schema is
checked, and walked by the JSON reader (pipelines/ingest/layouts/jsondoc.py)."""
from __future__ import annotations

import re

_STEP = re.compile(r"^([A-Za-z_][\w-]*)?(\[\*\]|\{\*\}|\*)?$")
MEMBERS = "members"  # a step over the members of an object (``{*}``); True: over the items of an array
EITHER = "either"  # ``*``: the items of an array or the members of an object, whichever is there


def parse_records_path(path: str) -> tuple[tuple[str, bool | str], ...]:
    """``'audios[*].segments[*]'`` -> ``(('audios', True), ('segments', True))``, ``'{*}'`` ->
    ``(('', 'members'),)``; ValueError if malformed."""
    if path == "":
        return ()
    steps = []
    for part in path.split("."):
        match = _STEP.match(part)
        if match is None or not part:
            raise ValueError(f"records path {path!r}: {part!r} is not 'name', 'name[*]', '[*]', 'name{{*}}', '{{*}}' or '*'")
        kind = match.group(2)
        steps.append((match.group(1) or "", MEMBERS if kind == "{*}" else EITHER if kind == "*" else kind is not None))
    return tuple(steps)
