"""A report of one run as Markdown and HTML with PNG figures, built only from stored results.

Each protocol assembles a :class:`Document` from its tables and figures; :meth:`Document.write`
puts ``report.md``, ``report.html`` and ``figures/*.png`` in the run's ``report/`` directory. Every
figure and table carries the stored file it was made from, so a number in the report can be
traced back to raw results and the config that produced them.

Interactive figures (plotly fragments, e.g. a loss surface to turn) appear in report.html only;
report.md shows their static PNG. The page loads plotly.js from ``plotly.min.js``, copied from the
installed plotly package into the report directory once per build and referenced relatively, so
the report opens offline and no page fetches a script from the network.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axionlab.runs.io import write_text

PLOTLY_JS = "plotly.min.js"
"""plotly.js, next to report.html (the installed plotly package's bundle: offline, no CDN)."""


@dataclass(frozen=True)
class _Block:
    kind: str
    text: str = ""
    rows: Sequence[Mapping[str, Any]] = ()
    columns: Sequence[str] = ()
    source: str = ""
    html: str = ""


@dataclass
class Document:
    """An ordered list of headings, paragraphs, tables and figures."""

    title: str
    blocks: list[_Block] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(_Block("heading", text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(_Block("paragraph", text))

    def bullets(self, items: Sequence[str]) -> None:
        self.blocks.append(_Block("bullets", rows=[{"text": item} for item in items]))

    def table(
        self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str], source: str = ""
    ) -> None:
        """A table of ``rows`` restricted to ``columns``; ``source`` names the stored file."""
        self.blocks.append(_Block("table", rows=list(rows), columns=list(columns), source=source))

    def exclusions(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str],
        *,
        source: str,
        none: str,
        counted: str,
    ) -> None:
        """The sentence naming every excluded row (:func:`exclusions_text`, with ``none`` and
        ``counted``), then, when there is any, the table of ``rows`` read from ``source``."""
        self.paragraph(exclusions_text(rows, none=none, counted=counted))
        if rows:
            self.table(rows, columns, source=source)

    def figure(self, path: Path, caption: str, source: str = "") -> None:
        """A figure already saved under the report's ``figures/`` directory."""
        self.blocks.append(
            _Block("figure", text=caption, columns=[f"figures/{path.name}"], source=source)
        )

    def interactive(self, fragment: str, fallback: Path, caption: str, source: str = "") -> None:
        """An interactive figure in report.html: ``fragment`` is trusted HTML from
        :mod:`axionlab.report.figures` (e.g. ``surface_3d_html``), needing plotly.js;
        report.md shows ``fallback``, a PNG already saved under ``figures/``."""
        self.blocks.append(
            _Block(
                "interactive",
                text=caption,
                columns=[f"figures/{fallback.name}"],
                source=source,
                html=fragment,
            )
        )

    def write(self, report_dir: Path) -> Path:
        """Write ``report.md`` and ``report.html`` (and ``plotly.min.js`` when an interactive
        figure needs it); return the HTML path."""
        write_text(report_dir / "report.md", self.markdown())
        if self._interactive:
            import plotly.offline

            write_text(report_dir / PLOTLY_JS, plotly.offline.get_plotlyjs())
        return write_text(report_dir / "report.html", self.html())

    @property
    def _interactive(self) -> bool:
        return any(block.kind == "interactive" for block in self.blocks)

    def markdown(self) -> str:
        """The document as Markdown; text is escaped so no config or data string becomes HTML.

        ``&``, ``<`` and ``>`` become entities everywhere, ``|`` is escaped in table cells,
        line breaks are folded where they would end a heading, bullet or row, and sources are
        code spans (which Markdown never renders as HTML).
        """
        out = [f"# {md_line(self.title)}", ""]
        for block in self.blocks:
            if block.kind == "heading":
                out += [f"## {md_line(block.text)}", ""]
            elif block.kind == "paragraph":
                out += [md_text(block.text), ""]
            elif block.kind == "bullets":
                out += [f"- {md_line(str(row['text']))}" for row in block.rows] + [""]
            elif block.kind == "table":
                cols = list(block.columns)
                out.append("| " + " | ".join(md_cell(c) for c in cols) + " |")
                out.append("|" + "---|" * len(cols))
                out += [
                    "| " + " | ".join(md_cell(fmt(row.get(c, ""))) for c in cols) + " |"
                    for row in block.rows
                ]
                out += [f"*Source: {md_code(block.source)}*" if block.source else "", ""]
            elif block.kind in ("figure", "interactive"):
                alt = md_line(block.text).replace("[", "\\[").replace("]", "\\]")
                target = block.columns[0].replace(" ", "%20").replace(")", "%29")
                out += [
                    f"![{alt}]({md_line(target)})",
                    "",
                    f"*{md_line(block.text)}*"
                    + (f" Source: {md_code(block.source)}" if block.source else ""),
                    "",
                ]
        return "\n".join(out)

    def html(self) -> str:
        esc = html.escape
        body = [f"<h1>{esc(self.title)}</h1>"]
        for block in self.blocks:
            if block.kind == "heading":
                body.append(f"<h2>{esc(block.text)}</h2>")
            elif block.kind == "paragraph":
                body.append(f"<p>{esc(block.text)}</p>")
            elif block.kind == "bullets":
                items = "".join(f"<li>{esc(row['text'])}</li>" for row in block.rows)
                body.append(f"<ul>{items}</ul>")
            elif block.kind == "table":
                head = "".join(f"<th>{esc(c)}</th>" for c in block.columns)
                rows = "".join(
                    "<tr>"
                    + "".join(f"<td>{esc(fmt(row.get(c, '')))}</td>" for c in block.columns)
                    + "</tr>"
                    for row in block.rows
                )
                source = (
                    f"<caption>Source: <code>{esc(block.source)}</code></caption>"
                    if block.source
                    else ""
                )
                body.append(
                    f"<table>{source}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
                )
            elif block.kind in ("figure", "interactive"):
                note = f" Source: <code>{esc(block.source)}</code>" if block.source else ""
                shown = block.html or (
                    f'<img src="{esc(block.columns[0])}" alt="{esc(block.text)}">'
                )
                body.append(
                    f"<figure>{shown}<figcaption>{esc(block.text)}{note}</figcaption></figure>"
                )
        style = (
            "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
            "table{border-collapse:collapse;font-size:12px;margin:1em 0}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
            "caption{caption-side:bottom;font-size:11px;color:#555}"
            "img{max-width:100%}figcaption{font-size:12px;color:#333}"
        )
        scripts = f'<script src="{PLOTLY_JS}"></script>' if self._interactive else ""
        return (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(self.title)}"
            f"</title><style>{style}</style>{scripts}</head><body>{''.join(body)}</body></html>\n"
        )


def md_text(text: str) -> str:
    """``text`` with ``&``, ``<`` and ``>`` as HTML entities, so Markdown shows it verbatim."""
    return html.escape(str(text), quote=False)


def md_line(text: str) -> str:
    """:func:`md_text` on one line (a line break would end a heading, bullet or caption)."""
    return " ".join(md_text(text).split("\n"))


def md_cell(text: str) -> str:
    """:func:`md_line` for a table cell: ``|`` is escaped so it cannot split the cell."""
    return md_line(text).replace("\r", " ").replace("|", "\\|")


def md_code(text: str) -> str:
    """``text`` as an inline code span, fenced with more backticks than it contains."""
    text = " ".join(str(text).splitlines())
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fmt(value: Any) -> str:
    """Format a table cell: floats to 4 significant digits, tiny/huge ones in scientific form;
    ``None`` (a typed table's missing value) is an empty cell, as in the CSV."""
    if value is None:
        return ""
    if isinstance(value, str):
        if value.strip().lstrip("-").isdigit() or not _is_float(value):
            return value
        value = float(value)
    if isinstance(value, float) and not isinstance(value, bool):
        if math.isnan(value):
            return "nan"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def exclusions_text(exclusions: Sequence[Mapping[str, object]], *, none: str, counted: str) -> str:
    """One sentence naming every excluded row (``unit what: reason``; an exclusions table's
    columns), or ``none`` when there is none. ``counted`` opens the sentence and may use ``{n}``,
    e.g. ``"Excluded ({n}; each mean counts only defined units)"``."""
    if not exclusions:
        return none
    listed = "; ".join(f"{e['unit']} {e['what']}: {e['reason']}" for e in exclusions)
    return f"{counted.format(n=len(exclusions))}: {listed}."
