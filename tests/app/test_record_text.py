"""``record_text``: record data as Markdown that Streamlit shows as exactly its text
(issue #12, item 7).

What Streamlit 1.67's Markdown renderer does, which the escape must survive
(read from its frontend bundle, ``StreamlitMarkdown.*.js``, and checked in a
browser by tests/e2e/test_hostile_records.py):

- before parsing, the raw source has every ``:material/`` rewritten to
  ``:material_`` (inside code spans too);
- parsing: CommonMark + GFM, directives (``:red[…]``), ``$…$`` math; a
  backslash escapes any ASCII punctuation;
- after parsing, plugins rewrite the decoded value of each *text node*
  (escapes and character references are already decoded there): GFM autolink
  literals (``www.x``, ``http://…``, ``a@b.co``), ``:material_icon:``,
  ``:streamlit:``, emoji shortcodes (``:smile:``, ``:+1:``) and typographic
  arrows (`` -> `` becomes ``→``). Code spans are not text nodes.

So escaping alone cannot stop the last group: ``record_text`` also puts an empty
``:small[]`` directive (an empty ``<span>``: nothing to see, nothing copied)
inside every place one of them could match, which splits the text node there.
``text_nodes`` below models that: what those plugins see of our Markdown.
"""

from __future__ import annotations

import random
import re

import pytest

from ui.format import record_text

SEAM = ":small[]"
# Every plugin that rewrites text nodes, as a superset of what it matches.
TRIGGERS = {
    "autolink": re.compile(r"(?i)https?://|www\."),
    "email": re.compile(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+"),
    "shortcode": re.compile(r":[\w+-]+:"),  # emoji, :material_icon:, :streamlit:
    "typography": re.compile(r"(?:^|\s)(?:<->|->|<-|--|>=|<=|~=)(?:\s|$)"),
}
PUNCT = r"!-/:-@\[-`{-~"
ESCAPED_ONLY = re.compile(rf"(?:\\[{PUNCT}]|[^{PUNCT}\\])*")
CODE_SPAN = re.compile(r"(`+)(.*?)\1", re.DOTALL)


def text_nodes(markdown: str) -> list[str]:
    """The text nodes Streamlit's plugins see: the text between seams, escapes decoded."""
    return [re.sub(r"\\(.)", r"\1", piece) for piece in markdown.split(SEAM)]


def code_text(markdown: str) -> str:
    """What a chain of code spans joined by seams shows (CommonMark's space stripping)."""
    shown = []
    for piece in markdown.split(SEAM):
        match = CODE_SPAN.fullmatch(piece)
        assert match is not None, piece
        fence, content = match.groups()
        assert fence not in re.findall(r"`+", content), piece  # nothing closes it early
        if content.startswith(" ") and content.endswith(" ") and content.strip():
            content = content[1:-1]
        shown.append(content)
    return "".join(shown)


# (value, the Markdown record_text makes of it)
PLAIN = [
    ("pym_vvMrJHwdMkfadakTGSbme", "pym\\_vvMrJHwdMkfadakTGSbme"),
    ("www.example.com", "www:small[]\\.example\\.com"),
    ("WWW.EXAMPLE.COM", "WWW:small[]\\.EXAMPLE\\.COM"),
    ("http://evil.example/x", "http:small[]\\:\\/\\/evil\\.example\\/x"),
    ("<http://evil>", "\\<http:small[]\\:\\/\\/evil\\>:small[]"),
    ("mailto:a@b.c", "mailto:small[]\\:a:small[]\\@b\\.c"),
    ("a@b.co", "a:small[]\\@b\\.co"),
    (":smile:", ":small[]\\:smile:small[]\\::small[]"),
    (":+1:", ":small[]\\:\\+1:small[]\\::small[]"),
    (":material/warning:", ":small[]\\:material\\/warning\\::small[]"),
    (":material_warning:", ":small[]\\:material\\_warning:small[]\\::small[]"),
    (":streamlit:", ":small[]\\:streamlit:small[]\\::small[]"),
    (":red[alert]", ":small[]\\:red\\[alert\\]"),
    ("**bold**", "\\*\\*bold\\*\\*"),
    ("[x](http://y)", "\\[x\\]\\(http:small[]\\:\\/\\/y\\)"),
    ("![i](http://y/p.png)", "\\!\\[i\\]\\(http:small[]\\:\\/\\/y\\/p\\.png\\)"),
    ("<b>html</b>", "\\<b\\>html\\<\\/b\\>:small[]"),
    ("$x^2$", "\\$x\\^2\\$"),
    ("`a` ``b``", "\\`a\\` \\`\\`b\\`\\`"),
    ("# heading", "\\# heading"),
    ("> quote", ":small[]\\> quote"),
    ("1. list", "1\\. list"),
    ("- item", ":small[]\\- item"),
    ("a -> b", "a \\-:small[]\\> b"),
    ("x <-> y -- z", "x \\<:small[]\\-:small[]\\> y \\-:small[]\\- z"),
    ("1 >= 0 <= 2 ~= 3", "1 \\>:small[]\\= 0 \\<:small[]\\= 2 \\~:small[]\\= 3"),
    ("&amp; &#58; \\", "\\&amp\\; \\&\\#58\\; \\\\"),
    ("two\nlines\r\n\tend", "two lines end"),
    (None, ""),
    (42, "42"),
    (
        "see www.a.io :+1: **b** <i>x</i> $y$ https://z.example/p?q=1 :material/home: ok",
        "see www:small[]\\.a\\.io \\:\\+1:small[]\\: \\*\\*b\\*\\* \\<i\\>x\\<\\/i\\> \\$y\\$ "
        "https:small[]\\:\\/\\/z\\.example\\/p\\?q\\=1 \\:material\\/home\\: ok",
    ),
]

# (value, the code spans record_text(code=True) makes of it)
CODE = [
    ("pym_1", "`pym_1`"),
    ("telemetry:payment:pym_1", "`telemetry:payment:pym_1`"),
    (
        "www.example.com http://evil.example/x a@b.co",
        "`www.example.com http://evil.example/x a@b.co`",
    ),
    (
        ":smile: :red[alert] **bold** $x^2$ <b>h</b>",
        "`:smile: :red[alert] **bold** $x^2$ <b>h</b>`",
    ),
    (":material/warning:", "`:material`:small[]`/warning:`"),
    ("a:material/b:material/c", "`a:material`:small[]`/b:material`:small[]`/c`"),
    ("a`b", "``a`b``"),
    ("`x`", "`` `x` ``"),
    (" padded ", "`  padded  `"),
    ("two\nlines", "`two lines`"),
]

FRAGMENTS = [
    "www", "WWW.", ".", ":", "/", "@", "http", "https", "://", "mailto:", "smile", "+1", "-1",
    "material", ":material/home:", "_", "warning", "streamlit", "-", ">", "<", "=", "~", " ",
    "a", "b.co", "example.com", "[x]", "(y)", "red[", "]", "{", "}", "**", "`", "$", "#", "\\",
    "&amp;", "!",
]  # fmt: skip


def fuzz_values(count: int = 400) -> list[str]:
    """Seeded random strings made of the pieces the plugins react to."""
    rng = random.Random(20261129)
    values = []
    for _ in range(count):
        value = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 10)))
        values.append(" ".join(value.split()) or "x")
    return values


VALUES = [v for v, _ in PLAIN if isinstance(v, str) and "\n" not in v] + fuzz_values()


@pytest.mark.parametrize(("value", "expected"), PLAIN)
def test_plain_text_markdown_is_exact(value: object, expected: str) -> None:
    """Each hostile value becomes this exact Markdown: escaped, seams where a plugin would match."""
    assert record_text(value) == expected


@pytest.mark.parametrize(("value", "expected"), CODE)
def test_code_span_markdown_is_exact(value: str, expected: str) -> None:
    """As code, a value is one code span, split only where ``:material/`` would be rewritten."""
    assert record_text(value, code=True) == expected


@pytest.mark.parametrize("value", VALUES)
def test_no_plugin_can_match_and_the_text_is_unchanged(value: str) -> None:
    """Every text node is free of autolinks, shortcodes and arrows; together they are the value."""
    markdown = record_text(value)
    assert ":material/" not in markdown
    assert ESCAPED_ONLY.fullmatch(markdown.replace(SEAM, "")), markdown
    nodes = text_nodes(markdown)
    assert "".join(nodes) == value
    for node in nodes:
        for name, trigger in TRIGGERS.items():
            assert not trigger.search(node), (name, node, markdown)


@pytest.mark.parametrize("value", VALUES)
def test_code_spans_show_the_value_and_escape_the_material_rewrite(value: str) -> None:
    """As code, the spans show exactly the value and the source never holds ``:material/``."""
    markdown = record_text(value, code=True)
    assert ":material/" not in markdown
    assert code_text(markdown) == value


@pytest.mark.parametrize("before", ["", " ", "x", ":", "www", "http", " -", " <", " ~", "**"])
@pytest.mark.parametrize("after", ["", " ", ")", ".", ":", "=", ">", "-", "**"])
def test_the_text_around_cannot_complete_a_match(before: str, after: str) -> None:
    """Template text on one side of the value cannot complete an autolink, shortcode or arrow."""
    for value in VALUES[:120]:
        for left, right in ((before, ""), ("", after)):
            nodes = text_nodes(left + record_text(value) + right)
            for node in nodes:
                for name, trigger in TRIGGERS.items():
                    assert not trigger.search(node), (name, left, value, right)


def test_long_values_are_cut_before_escaping() -> None:
    """A value longer than the limit is cut (with an ellipsis) before it is escaped."""
    assert record_text("a" * 10, limit=5) == "aaaa…"
    assert record_text("**" * 10, limit=3) == "\\*\\*…"
    assert record_text("x" * 400, code=True) == "`" + "x" * 400 + "`"
