"""Inline styles as classes in a live panel's HTML: what the browser gets, and the rules."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from julep_nb.display.classes import RowMemo, class_name, stylesheet, to_classes
from julep_nb.display.html import render_execution
from julep_nb.display.panel import bundle_for
from julep_nb.live.registry import stop_all

from .sources import MemoryJulep
from .test_panel import live, text, until

CLASSES = re.compile(r'class="([^"]*)"')
RULES = re.compile(r"\.(jnb\w+)\{([^}]*)\}")


def classes_in(html: str) -> set[str]:
    return {name for found in CLASSES.findall(html) for name in found.split()}


def rules_in(sheet: str) -> dict[str, str]:
    return dict(RULES.findall(sheet))


def test_every_style_becomes_a_class_with_an_important_rule() -> None:
    html = '<td style="padding:2px 6px;text-align:left;">a</td><td style="color:red">b</td>'
    out, used = to_classes(html)
    assert "style=" not in out and used == {"padding:2px 6px;text-align:left;", "color:red"}
    rules = rules_in(stylesheet(used))
    assert set(rules) == classes_in(out) and len(rules) == 2
    cell = rules[class_name("padding:2px 6px;text-align:left;")]
    assert cell == "padding:2px 6px !important;text-align:left !important"


def test_a_name_depends_on_the_style_only() -> None:
    assert class_name("color:red") == class_name("color:" + "red")  # any process, any panel
    assert class_name("color:red") != class_name("color:blue")
    red = class_name("color:red")
    assert to_classes('<b style="color:red">x</b>')[0] == f'<b class="{red}">x</b>'


def test_a_class_attribute_just_before_takes_the_new_class() -> None:
    out, _ = to_classes('<div class="julep-nb" style="margin:0">x</div>')
    assert out == f'<div class="julep-nb {class_name("margin:0")}">x</div>'


@pytest.mark.parametrize(
    "html",
    [
        '<div class="q" title="t" style="margin:0">x</div>',  # a class, not just before
        '<i style="color:red}body{display:none">x</i>',  # braces would leave the rule
        '<i style="x:&lt;/style&gt;">x</i>',  # entities mean nothing in a stylesheet
    ],
)
def test_what_cannot_move_safely_stays_inline(html: str) -> None:
    assert to_classes(html) == (html, frozenset())


def test_the_row_memo_gives_what_to_classes_gives() -> None:
    row = '<tr style="border-bottom:1px solid">{}</tr>'
    memo = RowMemo()
    for rows in (3, 4, 2, 5):
        html = (
            '<table style="width:100%"><tbody>'
            + "".join(row.format(f'<td style="color:c{i}">{i}</td>') for i in range(rows))
            + "</tbody></table>"
        )
        assert memo(html) == to_classes(html)


# --------------------------------------------------------------------- in a panel


@pytest.fixture
async def source() -> AsyncIterator[MemoryJulep]:
    yield MemoryJulep()
    stop_all()


async def test_the_live_html_has_classes_and_the_panel_has_their_rules(
    source: MemoryJulep,
) -> None:
    handle, panel = live(source, refresh_rate=100)
    source.commit("init", {"topic": "otters"})
    source.commit("step", {"facts": [1, 2, 3]}, label="fetch")
    source.commit("finish", {"answer": 42})
    await until(lambda: panel.state.is_terminal and "succeeded" in text(panel.live))
    live_html = panel.live.value
    assert "style=" not in live_html
    used = {name for name in classes_in(live_html) if name.startswith("jnb")}
    rules = rules_in(panel.styles.value)
    assert used and used <= set(rules)  # no class shows unstyled
    assert "otters" in text(panel.live) and '"answer": 42' in text(panel.live)
    # the live HTML is much smaller than the same state with inline styles
    inline = render_execution(panel.state, timeline_limit=panel.timeline_limit)
    assert len(live_html) < 0.75 * len(inline)
    # what a saved notebook shows without widgets keeps its inline styles
    assert 'style="' in bundle_for(panel, panel.state)["text/html"]


async def test_the_rules_are_sent_again_only_for_new_styles(source: MemoryJulep) -> None:
    handle, panel = live(source, refresh_rate=1000)
    sheets: list[str] = []
    panel.styles.observe(lambda change: sheets.append(change["new"]), "value")
    source.commit("init")
    for i in range(30):
        source.commit("step", {"i": i}, label=f"s{i % 3}")
        await until(lambda n=i + 2: panel.state.seen_count == n)
    assert 1 <= len(sheets) <= 2  # the first render, the first output row; nothing after
    known = [set(rules_in(sheet)) for sheet in sheets]
    assert all(before < after for before, after in zip(known, known[1:], strict=False))
