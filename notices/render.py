"""Rendering notices with Jinja and WeasyPrint: plain dicts in, deterministic PDF bytes out."""

from __future__ import annotations

import base64
import os
import re
from datetime import date
from pathlib import Path

import jinja2
import segno
from weasyprint import HTML
from weasyprint.urls import URLFetcher

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE.parent / "templates" / "notices"
NOTICE_KINDS = (
    "publicity",
    "announcement",
    "survey_form",
    "appraisal_record",
    "verification_form",
    "evaluation_report",
)
DEFAULT_FONTS = "Noto Serif CJK SC, Noto Serif CJK, Noto Sans CJK SC, serif"
# Row keys that would publish personal data (《2018年政务公开工作要点》 de-identification).
_PERSONAL = re.compile(
    r"id_?number|phone|mobile|bank|account|health|disease|illness|cause", re.IGNORECASE
)

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)


class LockedFetcher(URLFetcher):
    """Loads only data: URIs and files under notices/static; refuses everything else."""

    def __init__(self):
        super().__init__(allowed_protocols=("file", "data"), fail_on_errors=True)

    def fetch(self, url, headers=None):
        if url.startswith("data:"):
            return super().fetch(url, headers)
        if url.startswith("file://"):
            path = Path(url[len("file://") :].split("?")[0]).resolve()
            if path.is_relative_to(STATIC):
                return super().fetch(url, headers)
        raise ValueError(f"notices load assets only from their own folder, not {url}")


def cn_date(value) -> str:
    """2019年11月1日, no leading zeros."""
    day = value if isinstance(value, date) else date.fromisoformat(str(value))
    return f"{day.year}年{day.month}月{day.day}日"


def qr_data_uri(text: str) -> str:
    """A QR code of `text` as an SVG data URI."""
    svg = segno.make(text, error="m").svg_inline(scale=4, border=1)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


_env.filters["cn_date"] = cn_date


def _check(kind: str, context: dict) -> None:
    if kind not in NOTICE_KINDS:
        raise ValueError(f"unknown notice kind {kind!r}; one of {NOTICE_KINDS}")
    for row in context.get("rows", []):
        bad = [k for k in row if _PERSONAL.search(k)]
        if bad:
            raise ValueError(f"notices never publish personal data: row keys {bad}")
    for col in context.get("extra_columns", []):
        if _PERSONAL.search(col["key"]):
            raise ValueError(f"notices never publish personal data: column {col['key']}")


def render_html(kind: str, context: dict, fonts: str | None = None) -> str:
    """The notice as HTML (for previews and for rendering)."""
    _check(kind, context)
    verification = context.get("verification") or {}
    return _env.get_template(f"{kind}.html").render(
        c=context,
        fonts=fonts or os.environ.get("EXITFLOW_NOTICE_FONT") or DEFAULT_FONTS,
        qr=qr_data_uri(verification["url"]) if verification.get("url") else None,
        stylesheet=(STATIC / "notice.css").as_uri(),
    )


def render_pdf(kind: str, context: dict, fonts: str | None = None) -> bytes:
    """The notice as PDF; the same context always gives the same bytes."""
    html = render_html(kind, context, fonts)
    document = HTML(string=html, base_url=STATIC.as_uri() + "/", url_fetcher=LockedFetcher())
    # A fixed identifier and no creation time from the clock: byte-identical output.
    issued = str(context.get("issued_on", "2000-01-01"))
    return document.write_pdf(
        pdf_identifier=f"exitflow-{kind}-{context.get('serial', '')}-{issued}".encode()
    )


def _render_job(job: tuple[str, dict]) -> bytes:
    return render_pdf(*job)


def render_many(jobs: list[tuple[str, dict]], processes: int | None = None) -> list[bytes]:
    """Render a batch (a county's village notices) on every core; results in order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = processes or min(len(jobs), os.cpu_count() or 1)
    if workers <= 1 or len(jobs) <= 1:
        return [render_pdf(kind, context) for kind, context in jobs]
    # spawn: no forked copies of a web process's threads, locks or database connections
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_render_job, jobs, chunksize=max(1, len(jobs) // (workers * 4))))
