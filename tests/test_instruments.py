"""Instruments: the shipped PVQ-RR key and portraits, PVQ-RR and ValuePrism imports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, shared_file

from univar import store
from univar.catalog import instruments
from univar.errors import UserError

VALUEPRISM_SAMPLE = Path(__file__).parent / "data" / "valueprism_sample.csv"


def _rows(db, sql, params=()):
    with store.connect(db) as con:
        return con.execute(sql, list(params)).fetchall()


def test_key_covers_57_items_three_per_value_in_circle_order():
    assert sorted(instruments.ITEM_VALUE) == list(range(1, 58))
    assert len(instruments.PVQ_RR_KEY) == 19
    assert all(len(items) == 3 for _, items in instruments.PVQ_RR_KEY.values())
    # spot checks against the published key
    assert instruments.PVQ_RR_KEY["sdt"][1] == (1, 23, 39)
    assert instruments.PVQ_RR_KEY["bed"][1] == (19, 27, 55)
    angles = list(instruments.ANGLES.values())
    assert angles == sorted(angles) and angles[0] == 0.0 and angles[-1] < 360


def test_ensure_ships_structure_and_portraits_without_pvq_text(tmp_db):
    instruments.ensure(tmp_db)
    instruments.ensure(tmp_db)  # idempotent
    df = instruments.list_instruments(tmp_db).set_index("instrument")
    assert df.loc["pvq-rr", "items"] == 57 and df.loc["pvq-rr", "with_text"] == 0
    assert df.loc["univar-portraits", "with_text"] == 57
    assert _rows(
        tmp_db, "SELECT count(*) FROM value_defs WHERE framework='Schwartz' AND angle IS NOT NULL"
    ) == [(19,)]
    sources = dict(_rows(tmp_db, "SELECT source, count(*) FROM questions GROUP BY source"))
    assert sources == {"univar-portraits": 57}  # PVQ-RR items have no text to ask yet
    items = instruments.items(tmp_db, "univar-portraits")
    assert items.loc[0, "question_id"] == "univar-portraits.01"
    assert items.loc[0, "value_code"] == "sdt"


def test_portraits_follow_the_key_and_are_the_projects_own_words():
    pvq = shared_file("pvq_rr_items.jsonl")
    statements = [json.loads(line)["statement"].lower() for line in pvq.read_text().splitlines()]
    rows = instruments._portrait_rows()
    assert [n for n, _, _ in rows] == list(range(1, 58))
    assert all(instruments.ITEM_VALUE[n] == code for n, code, _ in rows)
    assert not {t.lower() for _, _, t in rows} & set(statements)


def test_no_pvq_rr_item_text_in_the_project():
    pvq = shared_file("pvq_rr_items.jsonl")
    statements = [json.loads(line)["statement"] for line in pvq.read_text().splitlines()]
    for folder in ("univar", "data", "pages", "tests"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".csv", ".json", ".jsonl", ".md"):
                text = path.read_text(encoding="utf-8", errors="ignore")
                assert not any(s in text for s in statements), f"PVQ-RR text in {path}"


def test_import_pvq_rr_jsonl(tmp_db):
    path = shared_file("pvq_rr_items.jsonl")
    assert instruments.import_pvq_rr(path, tmp_db) == 57
    items = instruments.items(tmp_db, "pvq-rr")
    assert items["text"].notna().all() and len(items) == 57
    first = json.loads(path.read_text().splitlines()[0])["statement"]
    assert items.loc[0, "text"] == first and items.loc[0, "value_code"] == "sdt"
    assert _rows(tmp_db, "SELECT count(*) FROM questions WHERE source = 'pvq-rr'") == [(57,)]
    assert instruments.import_pvq_rr(path, tmp_db) == 57  # again: replaces, no duplicates
    assert _rows(tmp_db, "SELECT count(*) FROM instrument_items WHERE instrument='pvq-rr'") == [
        (57,)
    ]


@pytest.mark.parametrize("header", ["item,text\n", "question_number,statement\n", ""])
def test_import_pvq_rr_csv(tmp_db, tmp_path, header):
    path = tmp_path / "pvq.csv"
    body = "".join(f'{n},"Placeholder item {n}, in our words"\n' for n in range(57, 0, -1))
    path.write_text(header + body, encoding="utf-8")
    assert instruments.import_pvq_rr(path, tmp_db) == 57
    items = instruments.items(tmp_db, "pvq-rr")
    assert items.loc[22, "text"] == "Placeholder item 23, in our words"
    assert items.loc[22, "value_code"] == "sdt"


@pytest.mark.parametrize(
    "body, message",
    [
        ("".join(f"{n},text {n}\n" for n in range(1, 57)), "missing items [57]"),
        ("".join(f"{n},text {n}\n" for n in range(1, 59)), "unknown items [58]"),
        ("1,\n" + "".join(f"{n},text {n}\n" for n in range(2, 58)), "empty items [1]"),
        ("one,text\ntwo,text\n", "row 1: expected item number, text"),
    ],
)
def test_bad_pvq_rr_file_writes_nothing(tmp_db, tmp_path, body, message):
    path = tmp_path / "bad.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        instruments.import_pvq_rr(path, tmp_db)
    assert (
        instruments.list_instruments(tmp_db).set_index("instrument").loc["pvq-rr"]["with_text"] == 0
    )


def test_bad_pvq_rr_jsonl_and_missing_file(tmp_db, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"statement": "x", "question_number": 1}\n{"nope": 2}\n', encoding="utf-8")
    with pytest.raises(UserError, match="line 2"):
        instruments.import_pvq_rr(path, tmp_db)
    with pytest.raises(UserError, match="does not exist"):
        instruments.import_pvq_rr(tmp_path / "absent.jsonl", tmp_db)


def test_import_valueprism(tmp_db):
    assert instruments.import_valueprism(VALUEPRISM_SAMPLE, tmp_db) == 4
    items = instruments.items(tmp_db, "valueprism")
    lie = items[items["item_id"] == "00001"].set_index("value_code")
    assert lie.loc["honesty", "keyed"] == -1 and lie.loc["kindness", "keyed"] == 1
    assert lie.loc["right_to_accurate_information", "keyed"] == 0  # 'Either'
    assert set(items["framework"]) == {"ValuePrism"}
    names = dict(_rows(tmp_db, "SELECT code, name FROM value_defs WHERE framework='ValuePrism'"))
    assert names["duty_to_be_truthful_to_friends"] == "Duty to be truthful to friends"
    assert _rows(tmp_db, "SELECT count(*) FROM questions WHERE source='valueprism'") == [(4,)]
    assert instruments.import_valueprism(VALUEPRISM_SAMPLE, tmp_db, dataset="vp-2") == 4
    assert instruments.import_valueprism(VALUEPRISM_SAMPLE, tmp_db) == 4  # re-import
    assert len(instruments.items(tmp_db, "valueprism")) == len(items)


@pytest.mark.parametrize(
    "text, message",
    [
        ("situation,vrd,text,valence\nA,Value,Honesty,Maybe\n", "row 2"),
        ("situation,vrd,text\nA,Value,Honesty\n", "lacks ValuePrism columns"),
        ("situation,vrd,text,valence\n,Value,Honesty,Supports\n", "row 2"),
    ],
)
def test_bad_valueprism_file_writes_nothing(tmp_db, tmp_path, text, message):
    path = tmp_path / "vp.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        instruments.import_valueprism(path, tmp_db)
    assert "valueprism" not in set(instruments.list_instruments(tmp_db)["instrument"])


def test_valueprism_dataset_name_is_checked(tmp_db):
    for bad in ("", "pvq-rr", "a b", "x;drop"):
        with pytest.raises(UserError, match="dataset name"):
            instruments.import_valueprism(VALUEPRISM_SAMPLE, tmp_db, dataset=bad)
