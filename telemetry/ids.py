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
     ``column 1``, ``column 2``…, which ``column=`` accepts too.
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
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import repeat
from typing import NamedTuple

import orjson

from .errors import InputFormatError, InputTooLargeError
from .registry import ENTITY_TYPE_RE, EntityRegistry

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


class Query(NamedTuple):
    """One thing to look up; ``error`` set means status ``invalid_id`` with that reason.

    A named tuple rather than a frozen dataclass: a paste of 100,000 IDs builds
    100,000 of them, and a frozen dataclass costs ~1 µs each to construct.
    """

    text: str  # the token as written, unwrapped (the output's ``query`` column)
    entity_id: str  # '' when invalid
    entity_type: str | None  # explicit (``payment:pym_1``), else None: match the prefix
    error: str = ""


# tuple.__new__(Query, (text, text, None, "")) is Query(text, text, None) without
# NamedTuple's Python-level __new__ (a third of its cost).
_new_tuple = tuple.__new__


@dataclass(slots=True)
class ParsedIds:
    """The unique queries in order of first appearance, invalid ones included."""

    queries: list[Query]
    tokens: int  # non-empty tokens seen, duplicates included
    duplicates: int
    column: str | None = None  # the table column the IDs came from
    columns: list[str] = field(default_factory=list)  # every column of a table, [] otherwise

    @property
    def invalid(self) -> int:
        return sum(1 for query in self.queries if query.error)

    @property
    def unique(self) -> int:
        return len(self.queries)


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
        self.tokens = 0
        self._seen_text: set[str] = set()
        self._seen_keys: set[object] = set()

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
        """The query for a cleaned token and its de-duplication key (None when invalid)."""
        if len(token) > MAX_ID_CHARS:
            reason = f"token is {len(token):,} characters long; IDs are at most {MAX_ID_CHARS}"
            return Query(_shown(token), "", None, reason), None
        if not (token.isascii() and token.isprintable()) and (reason := _bad_character(token)):
            return Query(_shown(token), "", None, reason), None
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
        count = 0
        for raw in raw_tokens:
            token = _clean(raw) if raw[0] in _EDGE or raw[-1] in _EDGE else raw
            if not token:
                continue
            count += 1
            if token in seen_text:
                continue
            seen_text.add(token)
            if (
                ":" not in token
                and len(token) <= MAX_ID_CHARS
                and token.isascii()
                and token.isprintable()
            ):
                # classify's usual case, inlined: a bare ID, its own de-duplication key.
                if token in seen_keys:
                    continue
                seen_keys.add(token)
                queries.append(_new_tuple(Query, (token, token, None, "")))
                continue
            query, key = self.classify(token)
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
) -> tuple[str | None, list[str], Iterable[str]] | None:
    """(column taken, all columns, cells to tokenise) when the text is a table, else None."""
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
            return None, names if header else [], (cell for row in data for cell in row)
        if not header and width == 2 and not max(hits):
            return None
    return names[index], names, (row[index] for row in data if index < len(row))


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
    fields = zip(unique, unique, repeat(None), repeat(""))
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
    json_cells = _json_cells(text)
    if json_cells is not None:
        if column is not None:
            raise InputFormatError(f"no column {column!r}: the input is a JSON list, not a table")
        ids.add_cells(json_cells)
    elif (table := _table(text, ids, column)) is not None:
        chosen, columns, cells = table
        ids.add_cells(cells)
    elif (plain := _plain_lines(text)) is not None:
        ids.queries, ids.tokens = plain
    else:
        ids.add(_TOKEN_RE.findall(text))
    parsed = ParsedIds(ids.queries, ids.tokens, ids.tokens - len(ids.queries), chosen, columns)
    if parsed.unique > max_ids:
        raise InputTooLargeError(
            f"{parsed.unique:,} unique IDs pasted; the limit is {max_ids:,} per request"
            " — split the list",
            count=parsed.unique,
            limit=max_ids,
        )
    return parsed
