"""Official notices as PDF: render_pdf(kind, context) -> bytes, from plain dicts only."""

from notices.render import NOTICE_KINDS, render_html, render_many, render_pdf

__all__ = ["NOTICE_KINDS", "render_html", "render_many", "render_pdf"]
