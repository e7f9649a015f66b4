"""Turn pasted text or uploaded bytes into ordered, de-duplicated lookup queries.

Users paste IDs in every shape (contract §2). The heuristics, in the order
they apply:

1. Bytes are decoded by :func:`decode_text`: a BOM (UTF-8, UTF-16) wins; UTF-16
   without a BOM is recognised by NULs in every other byte; then UTF-8; then
   cp1252/latin-1 when the bytes are mostly ASCII. Known binary signatures
   (images, archives, Office files), NUL bytes or more than 5% control /
   undecodable characters are refused with :class:`InputFormatError`.
2. Paste artefacts go: zero-width characters are deleted, NBSP and other
   unicode spaces become spaces, CR/CRLF become LF, Markdown/Slack fences
   (```` ``` ```` with an optional language tag) become line breaks.
3. A whole input that is a JSON array of scalars is read as JSON.
4. A table is detected when at least 2 of the first 50 non-empty lines exist
   and ≥75% of them split (``csv`` module, quotes honoured) into the same
   number ≥2 of fields on tab, comma or semicolon. Column statistics count
   the cells whose tokens all have a known type (explicit ``type:`` or a
   registry prefix). The ID column is the one with most such cells (ties:
   a header named like ``id``/``*_id``, then leftmost); with none, the first
   id-named header, else the first column. The first row is a header when
   its cell in that column is an id-like word (``id``, ``payment_id``,
   ``Payment ID``) or is no ID, has no digit, and at least half the body
   cells of the column are IDs. Then:
   - every cell of every column an ID (a Slack paste of several IDs per
     line) → all cells, row by row;
   - two columns, no header, no known ID anywhere → not a table (free text:
     taking one of two columns of unknown strings would silently lose IDs);
   - otherwise only the chosen column. Headerless columns are named
     ``column 1``, ``column 2``…, which ``column=`` accepts too. The other
     columns are kept (contract §8, ``ParsedIds.kept``): each query gets the
     other cells of the line it first appears on.
   A single column whose first line is an id-like word is a one-column table
   with that header. Otherwise one column or one line is free text.
5. Free text and every cell are split on whitespace, ``,`` ``;`` ``|``. Each
   token loses wrapping quotes (straight and curly), backticks and brackets,
   an unbalanced leading opener or trailing closer, and trailing dots. Glob
   characters stay: they are data, never patterns. A token more than twice
   the ID length limit is not unwrapped: it is too long as written.
6. ``{namespace}:type:id`` (any lower-snake type) and ``type:id`` (type in
   the registry) give an explicit type; a leading ``{namespace}:`` without a
   type is dropped; anything else is an ID as a whole (IDs may contain ``:``,
   and are never split on ``_``). Duplicates are keyed on (type, ID), so
   ``pym_1`` and ``payment:pym_1`` are one query.
7. Pasted text that is not an entity ID (contract §7): a token with no ``_``,
   no digit and no explicit type (``hey``, ``@here``, ``•``, an emoji) cannot be
   an ID: it is an ``IGNORED`` query, never looked up and not counted among the
   pasted IDs — unless it looks like a known prefix missing its ``_`` (``pym`` +
   about 21 letters), which is looked up and gets a typo hint. A ``run_…``
   token or a dashboard run URL (no registry prefix) is a ``RUN`` query: the
   entities pointing to that run, keyed on the run ID (URL and ID are one query).
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from operator import contains, itemgetter
from typing import NamedTuple

import orjson

from .errors import InputFormatError, InputTooLargeError
from .registry import ENTITY_TYPE_RE, EntityRegistry
from .reverse import run_query_id

MAX_ID_CHARS = 256
# Wrapping around a real ID is a few characters (quotes, brackets, a full stop). A longer
# token is judged as written, never unwrapped: per-character work stays bounded however
# long a pasted token is, and the ID length rule rejects it.
_MAX_TOKEN_CHARS = 2 * MAX_ID_CHARS
_SHOWN_CHARS = 80
_SAMPLE_LINES = 50
_STAT_CELLS = 20_000  # cells inspected to choose a column: plenty, and bounded for huge tables

_TOKEN_RE = re.compile(r"[^ \t\n\r\x0b\x0c,;|]+")
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_LINE_SEP_RE = re.compile("[\x85\u2028\u2029]")
_SPACE_RE = re.compile("[\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# The optional tag owns the blanks after it: two blank runs either side of an optional
# group backtrack quadratically on a fence followed by a long run of blanks.
_FENCE_LINE_RE = re.compile(
    r"(?im)^[ \t]*```[ \t]*"
    r"(?:(?:text|txt|plain|plaintext|csv|tsv|json|sql|sh|bash|shell|console|log)[ \t]*)?$"
)
_NON_TEXT_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")
_HIGH_BYTES = bytes(range(0x80, 0x100))
# What _plain_lines accepts: no separator but the line break, nothing _clean strips, no ':'.
_PLAIN_BYTES = b"\n-_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HEADER_WORD_RE = re.compile(r"[A-Za-z][A-Za-z _-]*")
_OPEN = {'"': '"', "'": "'", "`": "`", "(": ")", "[": "]", "{": "}", "<": ">"}
_OPEN |= {"\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb"}
_CLOSE = {closer: opener for opener, closer in _OPEN.items()}
_EDGE = frozenset(_OPEN) | frozenset(_CLOSE) | {"."}
_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive, e.g. an .xlsx workbook"),
    (b"\xd0\xcf\x11\xe0", "an old Office document, e.g. an .xls workbook"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "an executable"),
    (b"SQLite format 3", "a SQLite database"),
)


# Query.kind: what a query asks for.
ENTITY = ""  # the record of an entity ID (the usual query)
RUN = "run"  # the entities whose record points to a run (``entity_id`` holds the run ID)
IGNORED = "ignored"  # a word that cannot be an ID: never looked up (``error`` holds why)


class Query(NamedTuple):
    """One thing to look up; ``error`` set means status ``invalid_id`` with that reason
    (for an ``IGNORED`` query: why it was set aside).

    A named tuple rather than a frozen dataclass: a paste of 100,000 IDs builds
    100,000 of them, and a frozen dataclass costs ~1 µs each to construct.
    """

    text: str  # the token as written, unwrapped (the output's ``query`` column)
    entity_id: str  # '' when invalid or ignored; the run ID of a RUN query
    entity_type: str | None  # explicit (``payment:pym_1``), else None: match the prefix
    error: str = ""
    kind: str = ENTITY


# tuple.__new__(Query, (text, text, None, "", "")) is Query(text, text, None) without
# NamedTuple's Python-level __new__ (a third of its cost).
_new_tuple = tuple.__new__


class KeptColumns(NamedTuple):
    """A table's other columns (contract §8): their names as in the input, and the cells of
    the line each query came from, by the query's text (what a row's ``query`` holds).

    A duplicate ID keeps its first line's cells. Empty (``names == ()``) unless the IDs
    came from one column of a table with other columns.
    """

    names: tuple[str, ...]
    cells: dict[str, tuple[str, ...]]


@dataclass(slots=True)
class ParsedIds:
    """The unique queries in order of first appearance, invalid ones included."""

    queries: list[Query]  # ignored words included, in their place
    tokens: int  # non-empty tokens seen, duplicates included, ignored words not
    duplicates: int
    column: str | None = None  # the table column the IDs came from
    columns: list[str] = field(default_factory=list)  # every column of a table, [] otherwise
    kept: KeptColumns = field(default_factory=lambda: KeptColumns((), {}))
    ignored: int = 0  # distinct words set aside (IGNORED queries)

    @property
    def invalid(self) -> int:
        return sum(1 for query in self.queries if query.error and query.kind != IGNORED)

    @property
    def unique(self) -> int:
        """Distinct queries looked up (ignored words are not)."""
        return len(self.queries) - self.ignored

    @property
    def ignored_words(self) -> list[str]:
        """The words set aside, as pasted, in order of first appearance."""
        if not self.ignored:
            return []
        return [query.text for query in self.queries if query.kind == IGNORED]


def _binary(what: str) -> InputFormatError:
    return InputFormatError(f"this file looks binary ({what}); upload a .txt or .csv of IDs")


def _bomless_utf16(data: bytes) -> str | None:
    sample = data[:4096]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even, odd = sample[0 : 2 * pairs : 2].count(0), sample[1 : 2 * pairs : 2].count(0)
    if odd >= 0.6 * pairs and even <= 0.1 * pairs:
        return "utf-16-le"
    if even >= 0.6 * pairs and odd <= 0.1 * pairs:
        return "utf-16-be"
    return None


def decode_text(data: bytes) -> str:
    """An uploaded file as text with LF line ends; InputFormatError when it is not text."""
    if not isinstance(data, bytes):
        data = bytes(data)
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise _binary(what)
    if data.startswith(codecs.BOM_UTF8):
        text = data[3:].decode("utf-8", "replace")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", "replace")
    elif encoding := _bomless_utf16(data):
        text = data.decode(encoding, "replace")
    elif b"\x00" in data:
        raise _binary("it contains NUL bytes")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # IDs are ASCII: a legacy-encoded ID list is mostly ASCII, random bytes are not.
            sample = data[:65536]
            high = len(sample) - len(sample.translate(None, _HIGH_BYTES))
            if high > 0.3 * len(sample):
                share = f"{high / len(sample):.0%}"
                raise _binary(f"{share} of its bytes are neither ASCII nor UTF-8") from None
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
    sample = text[:65536]
    bad = len(_NON_TEXT_RE.findall(sample))
    if bad > max(3, 0.05 * len(sample)):
        raise _binary(f"{bad:,} of its first {len(sample):,} characters are control codes")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _normalise(text: str) -> str:
    if not text.isascii():
        text = _ZERO_WIDTH_RE.sub("", text)
        text = _SPACE_RE.sub(" ", _LINE_SEP_RE.sub("\n", text))
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "```" in text:
        text = _FENCE_LINE_RE.sub("", text).replace("```", "\n")
    return text


def _clean(token: str) -> str:
    """Strip what wraps an ID in prose, code and JSON, keeping brackets inside it.

    A token longer than ``_MAX_TOKEN_CHARS`` comes back as written, for the
    length rule to reject. Otherwise linear in the token: the window
    ``token[start:end]`` shrinks by index, not by copying, and the search for a
    bracket's partner resumes where the last one for that character stopped.
    """
    end = len(token)
    if end > _MAX_TOKEN_CHARS:
        return token
    start = 0
    # Where the last search for a partner found it (-1: nowhere). The window only
    # shrinks: a partner not in it never comes back, one in it stays until the window
    # passes it, and the next search starts there, so no character is searched twice.
    ahead: dict[str, int] | None = None  # closer -> found after the window's first character
    behind: dict[str, int] | None = None  # opener -> found before the window's last character
    while start < end:
        first, last = token[start], token[end - 1]
        closer = _OPEN.get(first)
        if closer is not None:
            if last == closer and end - start > 1:
                start += 1
                end -= 1
                continue
            if ahead is None:
                ahead = {}
            at = ahead.get(closer, start)
            if 0 <= at <= start:
                at = ahead[closer] = token.find(closer, start + 1, end)
            if not 0 <= at < end:  # no closer after the opener
                start += 1
                continue
        opener = _CLOSE.get(last)
        if opener is not None:
            if behind is None:
                behind = {}
            at = behind.get(opener, end - 1)
            if at >= end - 1:
                at = behind[opener] = token.rfind(opener, start, end - 1)
            if at >= start:  # an opener before the closer
                break
        elif last != ".":
            break
        end -= 1
    return token[start:end]


def _shown(token: str) -> str:
    # Invalid tokens reach terminals and tables: never print their control/format characters raw.
    if len(token) > _SHOWN_CHARS:
        token = token[:_SHOWN_CHARS] + "…"
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in token)


def _bad_character(token: str) -> str:
    for char in token:
        code = ord(char)
        if 0x21 <= code <= 0x7E:
            continue
        if code <= 0x20 or 0x7F <= code <= 0x9F:
            return f"contains control character U+{code:04X}"
        name = unicodedata.name(char, "")
        label = f"U+{code:04X} {name}" if name else f"U+{code:04X}"
        return f"contains non-ASCII character {char!r} ({label}); IDs are plain ASCII"
    return ""


# Every ID has a "_" after its prefix, or digits: a token with neither is a word.
_ID_MARK_RE = re.compile(r"[_0-9]")
_RUN_HEADS = frozenset({"run_", "http", "HTTP", "Http"})  # a token's first 4: maybe a run
# Contract §2: IDs are ``{prefix}_{21 base62 chars}``. A body a few characters off looks
# cut or padded when copied; one further off is some other format, and gets no hint.
TYPICAL_BODY_CHARS = 21
BODY_SLACK = 4
_MAX_PREFIX_UNDERSCORES = 4  # prefixes with more (none known) get no near-prefix hint
# Hints are appended to a not-found row's detail after this; ``hint_in`` finds them.
_HINT_MARK = "; looks "


def ignored_reason(token: str) -> str:
    """Why a token is set aside (an ``IGNORED`` query's ``error``, its row's detail)."""
    if token[:1] == "@":
        what = "a mention"
    elif not any(char.isalnum() for char in token):
        what = "a symbol"
    else:
        what = "a word"
    return f"{what}, not an ID (IDs have a '_' or a digit): set aside, not looked up"


def _base62(text: str) -> bool:
    return text.isascii() and text.isalnum()


def _typical_body(body: str) -> bool:
    return _base62(body) and abs(len(body) - TYPICAL_BODY_CHARS) <= BODY_SLACK


@functools.lru_cache(maxsize=16)
def _typo_stems(registry: EntityRegistry) -> tuple[tuple[str, str, str], ...]:
    """``(stem, prefix, entity type)`` of every prefix ending in ``_`` (``("pym", "pym_",
    "payment")``), longest first."""
    owner = {prefix: name for name in registry.types for prefix in registry.prefixes(name)}
    return tuple(
        (prefix[:-1], prefix, owner[prefix])
        for prefix in sorted(owner, key=len, reverse=True)
        if prefix.endswith("_") and len(prefix) > 1
    )


_stems_memo: tuple[EntityRegistry | None, tuple[tuple[str, str, str], ...]] = (None, ())


def _stems_of(registry: EntityRegistry) -> tuple[tuple[str, str, str], ...]:
    """``_typo_stems`` without hashing the registry on each call (once per not-found row):
    the last registry's, replaced whole, so concurrent readers never mix two."""
    global _stems_memo
    known, stems = _stems_memo
    if known is not registry:
        stems = _typo_stems(registry)
        _stems_memo = (registry, stems)
    return stems


def _stem_typo(token: str, stems: tuple[tuple[str, str, str], ...]) -> bool:
    """Whether ``token`` is a known prefix missing its ``_`` before a usual body
    (``pymAbc…``): an ID with a typo, to look up and hint at, not a word to set aside."""
    return any(token.startswith(stem) and _typical_body(token[len(stem) :]) for stem, *_ in stems)


def _one_slip(a: str, b: str) -> bool:
    """Whether two different strings are one slip apart: a letter changed, dropped or added,
    or two neighbours swapped (optimal string alignment distance 1)."""
    if len(a) < len(b):
        a, b = b, a
    at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(b))
    if len(a) == len(b) + 1:
        return a[at + 1 :] == b[at:]
    if len(a) != len(b) or at == len(a):
        return False
    return a[at + 1 :] == b[at + 1 :] or (
        a[at : at + 2] == b[at : at + 2][::-1] and a[at + 2 :] == b[at + 2 :]
    )


def _near_prefix(entity_id: str, registry: EntityRegistry) -> tuple[str, str] | None:
    """``(what looks wrong, the likely ID)`` for an ID whose prefix is one slip away from a
    known one (``pmy_…``, ``inv-…``, ``pym…`` with no ``_``), else None."""
    if not entity_id[:1].isalpha():
        return None
    # Where the ID's first, second… "_" ends: a head one slip from a prefix with k
    # underscores ends at the ID's k-th one (a slip of the "_" itself is the stem's case).
    cuts: list[int] = []
    at = entity_id.find("_")
    while at >= 0 and len(cuts) < _MAX_PREFIX_UNDERSCORES:
        cuts.append(at + 1)
        at = entity_id.find("_", at + 1)
    for stem, prefix, entity_type in _stems_of(registry):
        if entity_id.startswith(stem):
            rest = entity_id[len(stem) :]
            if rest[:1] in ("-", ".") and _base62(rest[1:]):
                return (
                    f"{rest[0]!r} where {entity_type} IDs have '_' ({prefix})",
                    prefix + rest[1:],
                )
            if _typical_body(rest):
                return f"no '_' after {stem} ({entity_type} IDs start {prefix})", prefix + rest
        underscores = prefix.count("_")
        if underscores > len(cuts) or abs(cuts[underscores - 1] - len(prefix)) > 1:
            continue
        cut = cuts[underscores - 1]
        head, body = entity_id[:cut], entity_id[cut:]
        if (
            body
            and _base62(body)
            and head[:-1].replace("_", "").isalpha()
            and _one_slip(head, prefix)
        ):
            return f"the prefix {head} is one slip from {prefix} ({entity_type})", prefix + body
    return None


def typo_hint(entity_id: str, entity_type: str | None, registry: EntityRegistry) -> str:
    """What looks wrong with an ID that was not found, and the likely fix; '' when nothing
    does. Never a rewrite: the caller looked the ID up as pasted and says so."""
    if not entity_id:
        return ""
    if entity_type is None:
        near = _near_prefix(entity_id, registry)
        if near is None:
            return ""
        what, likely = near
        return f"looks like a typo: {what}; did you mean {likely}?"
    # Called for every not-found row of a bulk resolve: most IDs leave at the length test.
    prefixes = registry.prefixes(entity_type)
    prefix = max((p for p in prefixes if entity_id.startswith(p)), key=len, default="")
    off = len(entity_id) - len(prefix) - TYPICAL_BODY_CHARS
    if not prefix or not off or abs(off) > BODY_SLACK:
        return ""
    body = entity_id[len(prefix) :]
    if not _base62(body):
        return ""
    count = f"{abs(off)} character{'s' if abs(off) != 1 else ''}"
    usual = f"{entity_type} IDs usually have {TYPICAL_BODY_CHARS} after {prefix}, this has"
    if off < 0:
        return f"looks {count} short ({usual} {len(body)}): was the end cut off when copying?"
    return f"looks {count} too long ({usual} {len(body)}): were characters pasted onto it?"


def hint_in(detail: str) -> str:
    """The typo hint of a not-found row's detail ('' when it has none)."""
    _, mark, hint = detail.partition(_HINT_MARK)
    return "looks " + hint if mark else ""


def with_hint(detail: str, hint: str) -> str:
    """A not-found row's detail with ``typo_hint``'s hint appended (for ``hint_in``)."""
    return f"{detail}{_HINT_MARK}{hint[len('looks ') :]}" if hint else detail


_HEADER_ENDINGS = ("id", "ids", "key", "keys")


def _is_header_word(cell: str, match: Callable[[str], str | None]) -> bool:
    """Whether a first-row cell names a column (``payment_id``, ``Billing run ID``).

    A cell with a known prefix is an ID unless all that follows the prefix is an
    ending (``org_id``, ``event_ids``): ``pym_aZxid`` is data, not a header.
    """
    if not _HEADER_WORD_RE.fullmatch(cell):
        return False
    word = cell.lower().replace(" ", "_").replace("-", "_")
    if match(cell) is not None and word.rsplit("_", 1)[-1] not in _HEADER_ENDINGS:
        return False
    return word.endswith(_HEADER_ENDINGS) or word in ("entity", "query", "queries")


@functools.lru_cache(maxsize=16)
def _prefix_matcher(registry: EntityRegistry) -> Callable[[str], str | None]:
    """registry.match, faster: one dict probe on the ID's first characters.

    Every prefix is at least ``shortest`` characters long, so an ID's first
    ``shortest`` characters select the only prefixes it can start with; when
    that head is itself the one prefix (``pym_``), it names the type directly.
    """
    owner = {prefix: name for name in registry.types for prefix in registry.prefixes(name)}
    shortest = min((len(prefix) for prefix in owner), default=0)  # no prefixes: no heads
    heads: dict[str, list[tuple[str, str]]] = {}
    for prefix in sorted(owner, key=len, reverse=True):  # longest first: the longest match wins
        heads.setdefault(prefix[:shortest], []).append((prefix, owner[prefix]))
    direct = {
        head: found[0][1]
        for head, found in heads.items()
        if len(found) == 1 and found[0][0] == head
    }
    several = {head: tuple(found) for head, found in heads.items() if head not in direct}
    direct_get, several_get = direct.get, several.get

    def match(entity_id: str) -> str | None:
        head = entity_id[:shortest]
        name = direct_get(head)
        if name is not None:
            return name
        for prefix, name in several_get(head, ()):
            if entity_id.startswith(prefix):
                return name
        return None

    # For loops that inline the usual case: direct.get(entity_id[:shortest]) or match(...).
    match.shortest = shortest  # type: ignore[attr-defined]
    match.direct = direct  # type: ignore[attr-defined]
    # When no prefix starts another, an ID starts with at most one of them, so a prefix
    # found by a guess (up to the ID's last "_") is the match: exact.get(guess) or match(...).
    prefix_free = not any(a != b and a.startswith(b) for a in owner for b in owner)
    match.exact = owner if prefix_free else {}  # type: ignore[attr-defined]
    return match


class _Collector:
    """Classifies cleaned tokens and keeps the first of each (type, ID)."""

    def __init__(self, registry: EntityRegistry, namespace: str) -> None:
        self.registry = registry
        self.match = _prefix_matcher(registry)
        self.head = f"{namespace}:" if namespace else None
        self.queries: list[Query] = []
        self.tokens = 0  # ignored words not counted
        self.ignored = 0  # distinct ignored words
        self._seen_text: set[str] = set()
        self._seen_keys: set[object] = set()
        self._ignored_text: set[str] = set()
        self._stems = _typo_stems(registry)

    def split_type(self, token: str) -> tuple[str | None, str]:
        if self.head and token.startswith(self.head):
            token = token[len(self.head) :]
            entity_type, sep, rest = token.partition(":")
            if sep and ENTITY_TYPE_RE.match(entity_type):
                return entity_type, rest
        entity_type, sep, rest = token.partition(":")
        if sep and entity_type in self.registry:
            return entity_type, rest
        return None, token

    def _typed(self, token: str) -> bool:
        """Whether a token names a type or the namespace (``payment:``, ``telemetry:…``): an
        ID asked for, looked up (or reported invalid) even without a digit or ``_``."""
        return bool(self.head and token.startswith(self.head)) or (
            self.split_type(token)[0] is not None
        )

    def known(self, cell: str) -> bool:
        """Whether every token of a table cell has a known type (used to pick the column)."""
        tokens = [_clean(raw) for raw in _TOKEN_RE.findall(cell)]
        tokens = [token for token in tokens if token]
        for token in tokens:
            entity_type, entity_id = self.split_type(token)
            if not entity_id or not (entity_type or self.match(entity_id)):
                return False
        return bool(tokens)

    def classify(self, token: str) -> tuple[Query, object]:
        """The query for a cleaned token and its de-duplication key (None when invalid or
        ignored)."""
        if len(token) > MAX_ID_CHARS:
            reason = f"token is {len(token):,} characters long; IDs are at most {MAX_ID_CHARS}"
            return Query(_shown(token), "", None, reason), None
        if (
            _ID_MARK_RE.search(token) is None
            # A look-alike (full-width ``ｐｙｍ＿１``) is an ID mistyped: invalid_id says why.
            and (token.isascii() or not _ID_MARK_RE.search(unicodedata.normalize("NFKC", token)))
            and (":" not in token or not self._typed(token))
            and not _stem_typo(token, self._stems)
        ):
            return Query(_shown(token), "", None, ignored_reason(token), IGNORED), None
        if not (token.isascii() and token.isprintable()) and (reason := _bad_character(token)):
            return Query(_shown(token), "", None, reason), None
        if token[:4] in _RUN_HEADS and self.match(token) is None:
            run_id = run_query_id(token)
            if run_id is not None:
                return Query(token, run_id, None, "", RUN), (RUN, run_id)
        if ":" not in token:
            return Query(token, token, None), token
        entity_type, entity_id = self.split_type(token)
        if not entity_id:
            return Query(token, "", entity_type, f"no ID after {token!r}"), None
        # The key is (type, ID), but a bare ID stands for (match(ID), ID): that
        # spares the prefix match for the usual token, which has no explicit type.
        if entity_type is None or entity_type == self.match(entity_id):
            return Query(token, entity_id, entity_type), entity_id
        return Query(token, entity_id, entity_type), (entity_type, entity_id)

    def add(self, raw_tokens: Iterable[str]) -> None:
        seen_text, seen_keys, queries = self._seen_text, self._seen_keys, self.queries
        ignored_text = self._ignored_text
        count = 0
        for raw in raw_tokens:
            token = _clean(raw) if raw[0] in _EDGE or raw[-1] in _EDGE else raw
            if not token:
                continue
            count += 1
            if token in seen_text:
                if ignored_text and token in ignored_text:
                    count -= 1
                continue
            seen_text.add(token)
            if (
                "_" in token
                and ":" not in token
                and (token[0] != "r" or token[:4] != "run_")
                and len(token) <= MAX_ID_CHARS
                and token.isascii()
                and token.isprintable()
            ):
                # classify's usual case, inlined: a bare ID, its own de-duplication key.
                if token in seen_keys:
                    continue
                seen_keys.add(token)
                queries.append(_new_tuple(Query, (token, token, None, "", "")))
                continue
            query, key = self.classify(token)
            if query.kind == IGNORED:
                count -= 1
                self.ignored += 1
                ignored_text.add(token)
                queries.append(query)
                continue
            if key is not None:
                if key in seen_keys:
                    continue
                seen_keys.add(key)
            queries.append(query)
        self.tokens += count

    def add_cells(self, cells: Iterable[str]) -> None:
        self.add(raw for cell in cells for raw in _TOKEN_RE.findall(cell))


def _json_cells(text: str) -> list[str] | None:
    stripped = text.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        return None
    try:
        value = orjson.loads(stripped)
    except ValueError:  # orjson.JSONDecodeError; not JSON after all, so tokenise
        return None
    cells: list[str] = []
    for item in value:
        if isinstance(item, str):
            cells.append(item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            cells.append(str(item))
        elif item is not None and not isinstance(item, bool):
            return None
    return cells


def _sniff(lines: list[str]) -> str | None:
    best: tuple[int, str] | None = None
    for delimiter in ("\t", ",", ";"):
        if not any(delimiter in line for line in lines):
            continue
        try:
            widths = Counter(len(row) for row in csv.reader(lines, delimiter=delimiter))
        except csv.Error:
            continue
        width, rows = widths.most_common(1)[0]
        if width >= 2 and rows >= 0.75 * len(lines) and (best is None or rows > best[0]):
            best = (rows, delimiter)
    return best[1] if best else None


def _table(
    text: str, ids: _Collector, column: str | None
) -> tuple[str | None, list[str], Iterable[str], tuple[list[list[str]], int] | None] | None:
    """(column taken, all columns, cells to tokenise, (data rows, ID column index) when the
    IDs come from one column) when the text is a table, else None."""
    pieces = text.split("\n", _SAMPLE_LINES * 4)[: _SAMPLE_LINES * 4]
    sample = [line for line in pieces if line.strip()][:_SAMPLE_LINES]
    delimiter = _sniff(sample) if len(sample) >= 2 else None
    if delimiter is None:
        if column is None and not (
            len(sample) >= 2 and _is_header_word(sample[0].strip(), ids.match)
        ):
            return None
        rows = [[line] for line in text.split("\n") if line.strip()]
    else:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
        try:
            rows = [row for row in reader if row]
        except csv.Error:
            if column is not None:
                raise InputFormatError(f"cannot read the table to find column {column!r}") from None
            return None
    # Blank lines are dropped by csv; ",,"-only rows must not become the header. One cut,
    # not a del per row: each del shifts the whole list, and such rows can be most of it.
    start = next((i for i, row in enumerate(rows) if any(cell.strip() for cell in row)), len(rows))
    del rows[:start]
    if not rows:
        return None
    width = max(len(row) for row in rows)
    first = [cell.strip() for cell in rows[0]] + [""] * (width - len(rows[0]))
    body = rows[1 : 1 + max(10, min(1000, _STAT_CELLS // width))]
    hits = [sum(1 for row in body if i < len(row) and ids.known(row[i])) for i in range(width)]
    header_words = [_is_header_word(cell, ids.match) for cell in first]
    if max(hits):
        index = max(range(width), key=lambda i: (hits[i], header_words[i], -i))
    else:
        index = next((i for i in range(width) if header_words[i]), 0)
    # An ID anywhere in the first row makes it data, even under an empty header cell.
    first_has_id = any(
        ids.known(cell) for cell, word in zip(first, header_words, strict=True) if not word
    )
    header = header_words[index] or (
        bool(body)
        and not first_has_id
        and 2 * hits[index] >= len(body)
        and not any(map(str.isdigit, first[index]))  # in C: a header cell can be megabytes
    )
    named = [cell or f"column {i + 1}" for i, cell in enumerate(first)]
    if column is not None and column in first:
        header, index = True, first.index(column)
    names = named if header else [f"column {i + 1}" for i in range(width)]
    data = rows[1:] if header else rows
    if column is not None:
        folded = [name.casefold() for name in names]
        if column.casefold() not in folded:
            shown = ", ".join(repr(name) for name in names)
            raise InputFormatError(f"no column {column!r} in the table; its columns are: {shown}")
        index = folded.index(column.casefold())
    elif width >= 2:
        cells = [cell for row in data[: len(body) + 1] for cell in row if cell.strip()]
        # An id-like header (``payment_id``) over the only column holding IDs, the
        # other cells empty, is a table of that column, not several IDs per line.
        one_named_column = header_words[index] and sum(1 for hit in hits if hit) < 2
        if not one_named_column and all(ids.known(cell) for cell in cells):
            return None, names if header else [], (cell for row in data for cell in row), None
        if not header and width == 2 and not max(hits):
            return None
    return names[index], names, (row[index] for row in data if index < len(row)), (data, index)


def _add_keeping(
    ids: _Collector, names: list[str], data: list[list[str]], index: int
) -> KeptColumns:
    """``ids.add_cells`` of the ID column, noting the other cells of the line each new
    query came from (contract §8). A duplicate adds no query: it keeps its first line's
    cells. Short lines are padded with empty cells."""
    queries = ids.queries
    findall = _TOKEN_RE.findall
    starts: list[int] = []  # queries made before each line

    def tokens() -> Iterator[str]:
        # ``add`` asks for a token only once it is done with the last one: the query
        # count when a line's first token is asked for is the count before that line.
        for row in data:
            starts.append(len(queries))
            if index < len(row):
                yield from findall(row[index])

    ids.add(tokens())
    starts.append(len(queries))
    others = [i for i in range(len(names)) if i != index]
    width = len(names)
    pick = itemgetter(*others)
    if len(others) == 1:
        pick = lambda row, one=pick: (one(row),)  # noqa: E731 (itemgetter of one: no tuple)
    kept_names = tuple(names[i] for i in others)
    first = starts[0]
    if starts == list(range(first, first + len(data) + 1)):
        # The usual table: each line gave one new query (one ID a cell, no repeat).
        try:
            lines = list(map(pick, data))
        except IndexError:  # a short line: padded below
            pass
        else:
            texts = map(itemgetter(0), queries[first:])  # Query.text
            return KeptColumns(kept_names, dict(zip(texts, lines, strict=True)))
    cells: dict[str, tuple[str, ...]] = {}
    for row, start, end in zip(data, starts, starts[1:], strict=False):
        if start == end:
            continue
        line = pick(row if len(row) == width else row + [""] * (width - len(row)))
        if end == start + 1:  # the usual line: one ID
            cells[queries[start].text] = line
            continue
        for query in queries[start:end]:
            cells[query.text] = line
    return KeptColumns(kept_names, cells)


def _plain_lines(text: str) -> tuple[list[Query], int] | None:
    """``_Collector.add`` of free text holding only letters, digits, ``_``, ``-`` and line
    breaks (a pasted column of IDs): ``(queries, tokens)``, or None for any other text.

    Such a token needs no cleaning, has no type and no bad character, so it is
    its own query and de-duplication key: splitting on lines and ``dict.fromkeys``
    give what the token loop gives, at a fraction of its per-token cost.
    """
    if not text.isascii() or text.encode("ascii").translate(None, _PLAIN_BYTES):
        return None
    lines = text.split("\n")
    unique = dict.fromkeys(lines)
    unique.pop("", None)
    if unique and max(map(len, unique)) > MAX_ID_CHARS:
        return None  # classify words the "too long" error
    if not all(map(contains, unique, repeat("_"))) or text[:4] == "run_" or "\nrun_" in text:
        return None  # words to set aside or run IDs: the token loop tells them apart
    fields = zip(unique, unique, repeat(None), repeat(""), repeat(ENTITY))
    queries = list(map(_new_tuple, repeat(Query), fields))
    return queries, len(lines) - lines.count("")


def parse_ids(
    data: str | bytes,
    registry: EntityRegistry,
    *,
    namespace: str = "telemetry",
    column: str | None = None,
    max_ids: int = 100_000,
) -> ParsedIds:
    """Every query in ``data``, unique, in order of first appearance; see the module docstring."""
    text = _normalise(data if isinstance(data, str) else decode_text(data))
    column = (column or "").strip() or None  # a blank column picker means "guess"
    ids = _Collector(registry, namespace)
    chosen: str | None = None
    columns: list[str] = []
    kept = KeptColumns((), {})
    json_cells = _json_cells(text)
    if json_cells is not None:
        if column is not None:
            raise InputFormatError(f"no column {column!r}: the input is a JSON list, not a table")
        ids.add_cells(json_cells)
    elif (table := _table(text, ids, column)) is not None:
        chosen, columns, cells, rows = table
        if rows is not None and len(columns) > 1:
            kept = _add_keeping(ids, columns, *rows)
        else:
            ids.add_cells(cells)
    elif (plain := _plain_lines(text)) is not None:
        ids.queries, ids.tokens = plain
    else:
        ids.add(_TOKEN_RE.findall(text))
    parsed = ParsedIds(
        ids.queries,
        ids.tokens,
        ids.tokens - len(ids.queries) + ids.ignored,
        chosen,
        columns,
        kept,
        ids.ignored,
    )
    if parsed.unique > max_ids:
        raise InputTooLargeError(
            f"{parsed.unique:,} unique IDs pasted; the limit is {max_ids:,} per request"
            " — split the list",
            count=parsed.unique,
            limit=max_ids,
        )
    return parsed
