import re

import numpy as np

from axionlab.report import Document, exclusions_text, figures, fmt


def test_fmt():
    assert fmt(0.123456) == "0.1235" and fmt(1.5e-6) == "1.5e-06" and fmt("12") == "12"
    assert fmt("0.5") == "0.5" and fmt(float("nan")) == "nan" and fmt("ewc") == "ewc"
    assert fmt(3) == "3" and fmt(True) == "True"


def test_document_writes_markdown_and_html(tmp_path):
    fig, axes = figures.grid(2, 2)
    a = np.linspace(-1, 1, 5)
    values = np.add.outer(a**2, a**2)
    values[0, 0] = np.nan
    plane = {"alphas": a, "betas": a, "values": values}
    assert figures.contour(plane, ax=axes[0], title="plane") is fig
    diagrams = [np.array([[0.0, np.inf], [0.2, 0.5]]), np.zeros((0, 2))]
    assert figures.persistence_diagram(diagrams, ax=axes[1], title="diagram") is fig
    png = figures.save(fig, tmp_path / "figures" / "plane.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    doc = Document("Run <1>")
    doc.heading("Summary")
    doc.paragraph("a & b")
    doc.bullets(["one", "two"])
    doc.table([{"x": 0.5, "y": "a"}], ["x", "y"], source="tables/u.csv")
    doc.figure(png, "A plane", source="units/u/plane")
    html = doc.write(tmp_path).read_text()
    md = (tmp_path / "report.md").read_text()
    assert "<h1>Run &lt;1&gt;</h1>" in html and 'src="figures/plane.png"' in html
    assert "a &amp; b" in html and "<li>two</li>" in html and "tables/u.csv" in html
    assert "| x | y |" in md and "| 0.5 | a |" in md and "![A plane](figures/plane.png)" in md


def test_markdown_carries_no_html_from_config_or_data(tmp_path):
    hostile = "<script>alert(1)</script> & <img src=x onerror=alert(1)>"
    doc = Document(f"run {hostile}")
    doc.heading(f"dataset root /data/{hostile}\n## injected")
    doc.paragraph(f"strategy option mode={hostile}")
    doc.bullets([f"unit a: {hostile}"])
    doc.table(
        [{"label": "a|b<i>", "note": "line\nbreak", "x": 0.5}],
        ["label", "note|col", "x"],
        source="tables/`odd`.csv",
    )
    doc.figure(tmp_path / "figures" / "p.png", f"caption [x]({hostile})", source="units/u")
    html = doc.write(tmp_path).read_text()
    md = (tmp_path / "report.md").read_text()
    assert "<script" not in md and "<img" not in md and "<i>" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img" in md
    assert "<script" not in html and "&lt;script&gt;" in html  # report.html escapes as before
    assert "\n## injected" not in md and "## dataset root" in md
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert rows[0] == "| label | note\\|col | x |"
    assert rows[1] == "| a\\|b&lt;i&gt; |  | 0.5 |"  # the row has no "note|col" value
    assert "*Source: ``tables/`odd`.csv``*" in md
    assert "![caption \\[x\\](&lt;script&gt;" in md


def test_markdown_table_cells_fold_line_breaks():
    doc = Document("t")
    doc.table([{"a": "one\ntwo|three"}], ["a"])
    assert "| one two\\|three |" in doc.markdown().splitlines()


def test_missing_typed_cell_is_an_empty_cell_as_in_the_csv():
    assert fmt(None) == ""


def test_exclusions_sentence_names_every_row_or_says_none():
    rows = [
        {"unit": "u1", "what": "aurc_ewc", "reason": "diverged"},
        {"unit": "u2", "what": "rate", "reason": "nonfinite"},
    ]
    text = exclusions_text(rows, none="none excluded", counted="Excluded ({n}; left out)")
    assert text == "Excluded (2; left out): u1 aurc_ewc: diverged; u2 rate: nonfinite."
    assert exclusions_text([], none="none excluded", counted="Excluded ({n})") == "none excluded"


def test_exclusions_block_is_the_sentence_then_the_table_only_when_some_row_is_excluded():
    rows = [{"unit": "u1", "what": "rate", "reason": "nonfinite", "step": None}]
    columns = ["unit", "what", "reason", "step"]
    doc = Document("t")
    doc.exclusions(rows, columns, source="tables/x.csv", none="none", counted="Excluded ({n})")
    by_hand = Document("t")
    by_hand.paragraph(exclusions_text(rows, none="none", counted="Excluded ({n})"))
    by_hand.table(rows, columns, source="tables/x.csv")
    assert doc.markdown() == by_hand.markdown()
    assert "| u1 | rate | nonfinite |  |" in doc.markdown().splitlines()

    empty = Document("t")
    empty.exclusions([], columns, source="tables/x.csv", none="none", counted="Excluded ({n})")
    assert [b.kind for b in empty.blocks] == ["paragraph"] and "none" in empty.markdown()


def test_interactive_surface_is_offline_in_html_and_a_png_in_markdown(tmp_path):
    a = np.linspace(-1, 1, 5)
    plane = {"alphas": a, "betas": a, "values": np.add.outer(a**2, a**2)}
    png = figures.save(figures.surface_3d(plane), tmp_path / "figures" / "surface.png")
    hostile = "u</script><script>alert(1)</script>"
    doc = Document("t")
    for k in range(2):
        fragment = figures.surface_3d_html(plane, div_id=f"surface-{k}", title=hostile)
        doc.interactive(fragment, png, f"turn it {k}", source="units/u/plane")
    html = doc.write(tmp_path).read_text()
    md = (tmp_path / "report.md").read_text()
    bundle = tmp_path / "plotly.min.js"
    assert bundle.stat().st_size > 1_000_000 and b"Plotly" in bundle.read_bytes()[:5000]
    scripts = re.findall(r"<script[^>]*\bsrc=[\"']?([^\"' >]+)", html)
    assert scripts == ["plotly.min.js"]  # one relative bundle, loaded once, before any figure
    assert not re.search(r"https?://", html)
    assert html.index("plotly.min.js") < html.index('id="surface-0"') < html.index('id="surface-1"')
    assert html.count("Plotly.newPlot(") == 2 and "<script>alert(1)" not in html
    assert "figures/surface.png" not in html  # the page shows the surface, not its PNG
    assert md.count("![turn it") == 2 and "![turn it 0](figures/surface.png)" in md
    assert "plotly" not in md and "<div" not in md


def test_a_document_without_interactive_figures_loads_no_script(tmp_path):
    doc = Document("t")
    doc.paragraph("text")
    assert "<script" not in doc.write(tmp_path).read_text()
    assert not (tmp_path / "plotly.min.js").exists()
