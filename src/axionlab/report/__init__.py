"""Reports of one run: a Markdown/HTML document builder and reusable figures."""

from axionlab.report.document import Document, exclusions_text, fmt

__all__ = ["Document", "exclusions_text", "fmt"]
