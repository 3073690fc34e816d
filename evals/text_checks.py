"""How a check reads what was posted: words, numbers, raw JSON, and echoes of the input.

All of it exact and explainable, so a team can trust a score and game none:
- a word matches on word boundaries (`lr` is not in "already"), case-folded; a
  trailing `*` matches any ending (`approv*`: approve, approval, approved);
- a number matches as a number (`0.0842` = `0.08420`, `1280` ≠ `12800`), shown to
  any precision of at least two significant digits (`0.874` for 0.8742);
- raw JSON is an object of two or more members, an array holding objects or
  arrays, a ```json fence, or lines of `"key": value` (what the brief forbids);
- a post echoes its input when three quarters of its words come in runs of six or more
  copied from what the model was given (the turn's items, header and tool results).

Everything here is linear in the text's length, and never raises on any text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable

# -- words -------------------------------------------------------------------------


def has_term(text: str, term: str) -> bool:
    """`term` (a word, a phrase, `stem*`) in `text`, on word boundaries, case-folded."""
    return _term(term).search(text.casefold()) is not None


def _term(term: str) -> re.Pattern[str]:
    stem = term.endswith("*") and len(term) > 1
    core = term[:-1] if stem else term
    folded = core.casefold().strip()
    # Spaces in a phrase match any run of whitespace (a line break in a card).
    body = r"\s+".join(re.escape(part) for part in folded.split())
    # A boundary only where the term itself starts or ends with a word character:
    # `[turn_id=` has none at its end, `25%` none after the sign.
    head = r"(?<!\w)" if folded[:1].isalnum() or folded[:1] == "_" else ""
    tail = r"\w*" if stem else (r"(?!\w)" if folded[-1:].isalnum() or folded[-1:] == "_" else "")
    return re.compile(head + body + tail)


# -- numbers -----------------------------------------------------------------------

_GROUPED = re.compile(r"(?<![\d.])(\d{1,3})((?:[ \u00a0\u202f,]\d{3})+)(?![\d])")
# A number stands on its own: not inside a word or an identifier (`v2`, a hex id such
# as `183e694ad0…` is no 183e694), not a version's part (`3.2.1`). A unit may follow
# (`1280px`, `12GB`), letters that run on into digits may not. Exponents have at most
# three digits: anything longer is no number a person writes.
_NUMBER = re.compile(r"(?<![\w.])[-−]?\d+(?:\.\d+)?(?:[eE][-+]?\d{1,3})?(?!\.\d)(?![A-Za-z_]*\d)")


def numbers_in(text: str) -> list[tuple[float, int]]:
    """Every finite number in `text` with its decimals shown; `14 820` and `14,820` are 14820."""
    text = _GROUPED.sub(lambda m: m.group(1) + re.sub(r"\D", "", m.group(2)), text)
    found = []
    for match in _NUMBER.finditer(text):
        raw = match.group(0).replace("−", "-").lower()
        value = float(raw)
        if not math.isfinite(value):
            continue  # 1e999, or a mantissa of hundreds of digits: nothing to compare
        mantissa, _, exponent = raw.partition("e")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        found.append((value, decimals - int(exponent or 0)))
    return found


def matches(shown: float, decimals: int, expected: float) -> bool:
    """`shown` is `expected` as written with `decimals` decimals (0.874 for 0.8742), or equal."""
    if not (math.isfinite(shown) and math.isfinite(expected)):
        return False
    if math.isclose(shown, expected, rel_tol=1e-9, abs_tol=1e-12):
        return True
    if shown == 0:
        return False
    significant = decimals + math.floor(math.log10(abs(shown))) + 1
    if significant < 2:
        return False
    return abs(shown - expected) <= 0.5 * 10.0 ** min(max(-decimals, -320), 308) + 1e-12


def has_number(text: str, expected: float) -> bool:
    return any(matches(x, d, expected) for x, d in numbers_in(text))


# -- raw JSON ----------------------------------------------------------------------

JSON_SCAN_LIMIT = 200_000  # characters searched: a dump shows itself long before
_OPENING = re.compile(r"[\[{]\s*[\"\[{]")
_FENCE = re.compile(r"```\s*json\b", re.IGNORECASE)
_KEY_LINE = re.compile(r'^\s*"[^"\n]{1,80}"\s*:\s*\S', re.MULTILINE)
_DECODER = json.JSONDecoder()


def raw_json(text: str) -> str | None:
    """The first stretch of raw JSON in `text` (its start, for the check's detail), or None."""
    text = text[:JSON_SCAN_LIMIT]
    if fence := _FENCE.search(text):
        return _excerpt(text, fence.start())
    for opening in _OPENING.finditer(text):
        try:
            value, end = _DECODER.raw_decode(text, opening.start())
        except (ValueError, RecursionError):
            continue
        if _is_dump(value):
            return _excerpt(text, opening.start())
    keys = list(_KEY_LINE.finditer(text))
    if len(keys) >= 2:
        return _excerpt(text, keys[0].start())
    return None


def _is_dump(value: object) -> bool:
    if isinstance(value, dict):
        return len(value) >= 2
    if isinstance(value, list):
        return any(isinstance(v, dict | list) for v in value)
    return False


def _excerpt(text: str, at: int) -> str:
    return " ".join(text[at : at + 60].split())


# -- echoes ------------------------------------------------------------------------

ECHO_RUN = 6  # words in a row copied from the input: a quote, not a coincidence
ECHO_SHARE = 0.75  # a post with at least this share of copied words is an echo
ECHO_MIN_WORDS = 8  # shorter posts are never called echoes
ECHO_SCAN_LIMIT = 200_000
# Words as a reader counts them: a name (`customer-b/pcb-inspect-v2`), a number (`2.50`)
# or an identifier (`torch.OutOfMemoryError`) is one word, split off `=` and `:`.
_WORD = re.compile(r"\w(?:[\w./-]*\w)?")


def copied_share(post: str, inputs: Iterable[str]) -> float:
    """The share of the post's words that sit in runs of ECHO_RUN words also found, in
    that order, in one of `inputs`. 0.0 for a post too short to tell."""
    words = _WORD.findall(post[:ECHO_SCAN_LIMIT].casefold())
    if len(words) < ECHO_MIN_WORDS:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    for text in inputs:
        source = _WORD.findall(text[:ECHO_SCAN_LIMIT].casefold())
        seen.update(tuple(source[i : i + ECHO_RUN]) for i in range(len(source) - ECHO_RUN + 1))
    copied = [False] * len(words)
    for i in range(len(words) - ECHO_RUN + 1):
        if tuple(words[i : i + ECHO_RUN]) in seen:
            copied[i : i + ECHO_RUN] = [True] * ECHO_RUN
    return sum(copied) / len(words)
