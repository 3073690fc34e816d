"""Globs over slash-separated names: repo paths (`configs/**`) and job names (`customer-a/**`).

`**` spans any number of segments, `*` and `?` stay within one segment, so
`customer-a/*` is that customer's top-level jobs and `customer-a/**` all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


def matches(name: str, globs: Iterable[str]) -> bool:
    return any(glob_regex(g).fullmatch(name) for g in globs)


@lru_cache(maxsize=1024)
def glob_regex(glob: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out))
