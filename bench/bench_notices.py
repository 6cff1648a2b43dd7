"""Notices: naive WeasyPrint vs posting a 200-household window and fetching its notice;
a county's 300 village notices rendered on one core vs both."""

from __future__ import annotations

import logging
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def naive_html(rows: list[dict]) -> str:
    """The same table, plain WeasyPrint with the system Noto CJK font, nothing cached."""
    body = "".join(
        f"<tr><td>{r['no']}</td><td>{r['group']}</td><td>{r['head_name']}</td>"
        f"<td>{r['people']}</td></tr>"
        for r in rows
    )
    return (
        "<html><body style=\"font-family: 'Noto Serif CJK SC'\"><h1>拟退出贫困户名单公示</h1>"
        f"<table>{body}</table></body></html>"
    )


def main() -> None:
    """Measure, print figures and ratios from the same run."""
    from sqlalchemy import select
    from weasyprint import HTML

    from notices import render_many, render_pdf
    from workflow import create_app
    from workflow.extensions import db
    from workflow.models import Case, User
    from workflow.services import demo, notices, publicity
    from workflow.services.actors import from_user

    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        app = create_app(
            {
                "INSTANCE_PATH": str(folder),
                "EXITFLOW_SECRET_KEY": "bench",
                "EXITFLOW_PASSWORD_HASH": "pbkdf2:sha256:1000",
                "EXITFLOW_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            }
        )
        with app.app_context():
            db.create_all()
            demo.seed(2400, "Bench-password-1", demo.at(date(2019, 10, 1)))
            demo.advance("appraised")
            village = demo.village_codes()[0]
            ids = list(
                db.session.scalars(
                    select(Case.id)
                    .where(Case.village_code == village, Case.state == "appraised")
                    .limit(200)
                )
            )
            clerk = from_user(db.session.scalar(select(User).where(User.username == "village1")))
            db.session.commit()
            t0 = time.perf_counter()
            window = publicity.post(
                clerk,
                village,
                ids,
                {"phone": "1", "address": "村委会"},
                None,
                demo.at(date(2019, 10, 21)),
            )
            posted = time.perf_counter() - t0
            rows = db.session.scalar(
                select(notices.Notice).where(notices.Notice.window_id == window.id)
            ).context["rows"]
            t0 = time.perf_counter()
            rendered = notices.render_pending()
            background = time.perf_counter() - t0
            t0 = time.perf_counter()
            with app.test_client() as client:
                pdf = client.get(f"/api/v1/notices/{window.code}/pdf").data
            fetched = time.perf_counter() - t0
            assert pdf.startswith(b"%PDF") and rendered == 1
        t0 = time.perf_counter()
        HTML(string=naive_html(rows)).write_pdf()
        naive = time.perf_counter() - t0
        t0 = time.perf_counter()
        render_pdf("publicity", {**notices_context(rows)})
        ours = time.perf_counter() - t0
    print(f"naive WeasyPrint, 200-row table: {naive:.2f} s")
    print(f"our renderer, the official 200-row notice: {ours:.2f} s ({ours / naive:.2f}x naive)")
    print(
        f"posting the 200-household window: {posted * 1000:.0f} ms; fetching its notice "
        f"after the scheduler rendered it ({background:.2f} s, in the background): "
        f"{fetched * 1000:.0f} ms; post + fetch = {(posted + fetched) / naive:.3f}x naive"
    )
    rng = random.Random(3)
    names = "李王张刘陈杨黄赵吴周韦覃蒙莫陆黎"
    jobs = [
        (
            "publicity",
            notices_context(
                [
                    {
                        "no": i,
                        "group": f"{i % 9 + 1}组",
                        "head_name": rng.choice(names) + "某" + str(v),
                        "people": 3,
                        "income": 5000,
                    }
                    for i in range(1, 31)
                ],
                title=f"第{v}村公示",
            ),
        )
        for v in range(300)
    ]
    t0 = time.perf_counter()
    render_many(jobs, processes=1)
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    render_many(jobs, processes=2)
    two = time.perf_counter() - t0
    print(
        f"300 village notices of 30 rows: one process {one:.1f} s, two processes {two:.1f} s "
        f"({one / two:.2f}x faster on 2 cores)"
    )


def notices_context(rows: list[dict], title: str = "红星村2019年拟退出贫困户名单公示") -> dict:
    """A publicity notice's context around `rows`."""
    return {
        "title": title,
        "issuer": "红星村村民委员会",
        "serial": "红星村公示〔2019〕1号",
        "basis": "根据规定",
        "steps_done": ["摸底调查", "民主评议"],
        "period": {"from": "2019-10-22", "to": "2019-10-28"},
        "extra_columns": [{"key": "income", "label": "人均纯收入(元)"}],
        "rows": rows,
        "contact": {"phone": "0776-1", "address": "村委会"},
        "issued_on": "2019-10-21",
        "verification": {"code": "ABCDEFGH", "url": "http://127.0.0.1:5000/n/ABCDEFGH"},
    }


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
