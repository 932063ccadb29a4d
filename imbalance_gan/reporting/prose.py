"""The report's prose, kept as markdown in ``templates/`` beside this module: one file per part of
report.md, each a set of named blocks filled with :class:`string.Template`.

A block starts at a line that holds only an HTML comment naming it (``<!-- section -->``) and
runs to the next such line; the blank lines around it are not part of it, and whatever stands
before the first block (a comment saying what the file is for) is not read. Placeholders are
``$name`` (``$$`` for a dollar sign); every one must be given, and values are put in as they
are (a ``$`` in a scenario name stays text). A paragraph is one line, as it is in report.md.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from string import Template

#: the templates' folder, shipped with the package (pyproject.toml's package-data)
FOLDER = "templates"
_BLOCK = re.compile(r"^<!-- ([a-z_]+) -->$", re.MULTILINE)


@functools.cache
def blocks(part: str) -> dict[str, Template]:
    """The named blocks of ``templates/<part>.md``."""
    text = (resources.files(__package__) / FOLDER / f"{part}.md").read_text(encoding="utf-8")
    pieces = _BLOCK.split(text)[1:]  # name, body, name, body, ...
    found = {
        name: Template(body.strip("\n"))
        for name, body in zip(pieces[::2], pieces[1::2], strict=True)
    }
    if len(found) * 2 != len(pieces):
        raise ValueError(f"{FOLDER}/{part}.md names a block twice")
    return found


def prose(part: str, block: str, **values: object) -> str:
    """Block ``block`` of ``templates/<part>.md`` with its placeholders filled by ``values``."""
    return blocks(part)[block].substitute(values)
