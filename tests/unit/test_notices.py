"""Notices as real PDFs: content, page size, fonts, determinism, rare names, no personal data."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from notices import render_pdf
from notices.render import render_html

RARE = ["韦𠀾", "覃䶮", "蒙堃", "黄犇", "陆淼", "𠮷祥"]  # CJK Extension A and B among them


def context(rows: int = 6) -> dict:
    names = (RARE * (rows // len(RARE) + 1))[:rows]
    return {
        "title": "红星村2019年拟退出贫困户名单公示",
        "issuer": "红星村民委员会",
        "serial": "红星村公示〔2019〕3号",
        "basis": "根据《关于建立贫困退出机制的意见》(厅字〔2016〕16号)",
        "steps_done": ["摸底调查", "民主评议"],
        "period": {"from": "2019-11-01", "to": "2019-11-08"},
        "extra_columns": [{"key": "income", "label": "人均纯收入(元)"}],
        "rows": [
            {
                "no": i + 1,
                "group": f"{i % 9 + 1}组",
                "head_name": name,
                "people": 4,
                "income": 4200 + i,
            }
            for i, name in enumerate(names)
        ],
        "contact": {"phone": "0776-5231234", "address": "红星村村委会"},
        "issued_on": "2019-11-01",
        "verification": {"code": "AB12CD34EF", "url": "http://127.0.0.1:5000/n/AB12CD34EF"},
    }


@pytest.fixture(scope="module")
def short_pdf() -> bytes:
    return render_pdf("publicity", context())


def text_of(pdf: bytes) -> list[str]:
    return [p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages]


def test_content_dates_and_every_name(short_pdf):
    text = "".join(text_of(short_pdf)).replace(" ", "").replace("\n", "")
    for part in [
        "红星村2019年拟退出贫困户名单公示",
        "红星村公示〔2019〕3号",
        "2019年11月1日",
        "2019年11月8日",
        "红星村民委员会",
        "0776-5231234",
        "AB12CD34EF",
        *RARE,
    ]:
        assert part in text, part
    assert not re.search(r"\d{17}[\dX]", text)


def test_a4_and_fonts_embedded(short_pdf):
    reader = PdfReader(io.BytesIO(short_pdf))
    box = reader.pages[0].mediabox
    assert (round(float(box.width) * 25.4 / 72), round(float(box.height) * 25.4 / 72)) == (210, 297)
    fonts = reader.pages[0]["/Resources"]["/Font"]
    for ref in fonts.values():
        font = ref.get_object()
        descendant = font["/DescendantFonts"][0].get_object()
        descriptor = descendant["/FontDescriptor"].get_object()
        assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
        assert "CJK" in str(font["/BaseFont"])


def test_same_context_same_bytes(short_pdf):
    assert render_pdf("publicity", context()) == short_pdf


def test_hundreds_of_rows_repeat_the_header_on_every_page():
    pages = text_of(render_pdf("publicity", context(120)))
    assert len(pages) >= 3
    for page in pages:
        assert "户主姓名" in page.replace(" ", "")
    assert "— 2 —" in pages[1]


def test_announcement():
    ctx = {
        **context(3),
        "decision": "经县扶贫开发领导小组审定,同意下列贫困户脱贫退出。",
        "households": 3,
        "people": 12,
    }
    text = "".join(text_of(render_pdf("announcement", ctx))).replace("\n", "")
    assert "3户12人" in text.replace(" ", "")


@pytest.mark.parametrize(
    "key", ["id_number", "head_id_number", "phone", "bank_account", "health", "poverty_cause"]
)
def test_personal_data_is_never_published(key):
    ctx = context(2)
    ctx["rows"][0][key] = "430623196001011234"
    with pytest.raises(ValueError, match="personal data"):
        render_pdf("publicity", ctx)


def test_assets_load_only_from_our_folder():
    from weasyprint import HTML
    from weasyprint.urls import FatalURLFetchingError

    from notices.render import STATIC, LockedFetcher

    html = render_html("publicity", context(1)).replace(
        "</body>", '<img src="http://example.com/x.png"></body>'
    )
    with pytest.raises(FatalURLFetchingError):
        HTML(string=html, base_url=STATIC.as_uri() + "/", url_fetcher=LockedFetcher()).write_pdf()
    html = render_html("publicity", context(1)).replace(
        "</body>", '<img src="file:///etc/passwd"></body>'
    )
    with pytest.raises(FatalURLFetchingError):
        HTML(string=html, base_url=STATIC.as_uri() + "/", url_fetcher=LockedFetcher()).write_pdf()


def test_every_document_kind_renders_its_content():
    base = {"issuer": "红星镇人民政府", "serial": "案件1", "issued_on": "2019-11-01"}
    household = {"village": "红星村", "group": "一组", "head_name": "韦𠀾", "people": 3}
    kinds = {
        "survey_form": {
            "title": "贫困户退出摸底调查表",
            "household": household,
            "year": 2019,
            "surveyed_on": "2019-10-15",
            "surveyors": ["韦组长", "覃队员"],
            "income": {"value": 5200, "line": 3218, "met": True},
            "indicators": [{"label": "住房安全有保障", "met": True}],
            "met": True,
        },
        "appraisal_record": {
            "title": "民主评议会议记录",
            "village": "红星村",
            "meeting_on": "2019-10-20",
            "representatives": 35,
            "present": 31,
            "minutes": None,
            "decisions": [
                {
                    "no": 1,
                    "group": "一组",
                    "head_name": "韦𠀾",
                    "votes_for": 29,
                    "votes_against": 1,
                    "result": "同意退出",
                }
            ],
        },
        "verification_form": {
            "title": "入户核实表",
            "household": household,
            "round": 1,
            "verifiers": [
                {"name": n, "result": "pass", "visited_on": "2019-10-30", "notes": None}
                for n in ("甲", "乙", "丙")
            ],
        },
        "evaluation_report": {
            "title": "第三方评估报告",
            "scope": "示范县",
            "year": 2019,
            "seed": 7,
            "sample": {"registered": 30, "nonregistered": 6, "villages": 5},
            "rates": [
                {
                    "name": "错退率",
                    "value": 0.0,
                    "ci_low": 0.0,
                    "ci_high": 3.7,
                    "numerator": 0,
                    "denominator": 90,
                    "threshold": "低于2%",
                }
            ],
            "passed": True,
            "reasons": [],
        },
    }
    expected = {
        "survey_form": ["摸底调查表", "韦𠀾", "3218", "住房安全有保障", "达到退出标准"],
        "appraisal_record": ["民主评议会议记录", "实到31人", "同意退出"],
        "verification_form": ["入户核实表", "第1轮", "甲", "丙", "通过"],
        "evaluation_report": ["第三方评估报告", "错退率", "0/90", "评估结论:通过"],
    }
    for kind, context in kinds.items():
        text = "".join(text_of(render_pdf(kind, {**base, **context}))).replace(" ", "")
        text = text.replace("\n", "")
        for part in expected[kind]:
            assert part in text, (kind, part)


def test_render_many_keeps_order_and_bytes():
    from notices import render_many

    jobs = [("publicity", {**context(2), "title": f"第{i}村公示"}) for i in range(3)]
    results = render_many(jobs, processes=2)
    assert [render_pdf(*job) for job in jobs] == results
    assert ["第0村公示" in text_of(r)[0] for r in results] == [True, False, False]
