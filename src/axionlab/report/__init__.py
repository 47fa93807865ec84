"""Reports of one run: a Markdown/HTML document builder and reusable figures."""

from axionlab.report.document import Document, fmt

__all__ = ["Document", "fmt"]
