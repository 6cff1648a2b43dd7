"""Server-rendered SVG bar charts (no JavaScript, no CDN)."""

from __future__ import annotations

from markupsafe import Markup, escape


def bars(
    items: list[tuple[str, float]], unit: str = "", threshold: float | None = None, width: int = 640
) -> Markup:
    """Horizontal bars with labels and values; an optional dashed threshold line."""
    if not items:
        return Markup("<p>暂无数据。</p>")
    row, label_w, top = 26, 150, 6
    peak = max([v for _, v in items] + [threshold or 0]) or 1
    scale = (width - label_w - 70) / peak
    height = top + row * len(items) + 6
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, value) in enumerate(items):
        y = top + i * row
        over = threshold is not None and value >= threshold
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" font-size="13">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{max(1, value * scale):.1f}" height="18" '
            f'fill="{"#b3261e" if over else "#2e7d32"}"/>'
            f'<text x="{label_w + value * scale + 6:.1f}" y="{y + 16}" font-size="12">'
            f"{value:g}{escape(unit)}</text>"
        )
    if threshold is not None:
        x = label_w + threshold * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" stroke="#555" '
            f'stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="{height - 2}" '
            f'font-size="11">{threshold:g}{escape(unit)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
