"""Reports of one run: a Markdown/HTML document builder and the public figure API.

:mod:`axionlab.report.figures` draws our result objects (loss planes as contours and 3-D
surfaces, persistence diagrams and barcodes, Hessian densities, …) as matplotlib figures, and
loss surfaces as interactive plotly fragments for report.html.
"""

from axionlab.report.document import Document, exclusions_text, fmt

__all__ = ["Document", "exclusions_text", "fmt"]
