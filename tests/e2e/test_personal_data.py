"""After a whole demo story, no full ID number is in the database, a log line or a notice."""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from sqlalchemy import select, text

from workflow import personal_data
from workflow.extensions import db
from workflow.models import Household, Member, PublicityWindow


def test_no_full_id_number_anywhere_after_a_story(runner, client, caplog):
    with caplog.at_level(logging.DEBUG):
        result = runner.invoke(args=["seed-demo", "--households", "24", "--advance-to", "exited"])
    assert result.exit_code == 0, result.output
    numbers = [
        personal_data.decrypt(c) for c in db.session.scalars(select(Household.head_id_cipher))
    ]
    numbers += [personal_data.decrypt(c) for c in db.session.scalars(select(Member.id_cipher))]
    assert len(numbers) > 24 and all(len(n) == 18 for n in numbers)

    # Every text value of every table, as stored.
    stored = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(text(f"SELECT * FROM {table.name}")):
            stored.extend(str(v) for v in row if v is not None)
    blob = "\n".join(stored)
    # Notices of every window, rendered as printed.
    for window in db.session.scalars(select(PublicityWindow)):
        token = client.post(
            "/api/v1/auth/token", json={"username": "county1", "password": "Exitflow-demo-2019"}
        )
        headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
        pdf = client.get(f"/api/v1/publicity-windows/{window.id}/notice.pdf", headers=headers)
        assert pdf.status_code == 200
        blob += "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    listing = client.get("/api/v1/households?per_page=1000", headers=headers)
    blob += listing.get_data(as_text=True) + caplog.text + result.output
    leaked = [n for n in numbers if n in blob]
    assert leaked == []
    # The masked form is what listings show.
    assert numbers[0][:6] + "********" + numbers[0][-4:] in blob
