"""Bounded input on a shared server (issue 13, finding 6): a hostile or merely big upload gets a
bounded number of one-line messages, is read as a stream, meets one size limit everywhere,
cannot smuggle a formula past the check, and never shows a traceback or a server path."""

from __future__ import annotations

import io
import logging
import re
import tempfile
import tomllib
import tracemalloc
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from univar import policy
from univar.cli import main
from univar.ingest import csvfile, validate
from univar.ingest.validate import MAX_HEADER_PROBLEMS, validate_bytes
from univar.output import export

ROOT = Path(__file__).resolve().parent.parent
UPLOAD = str(ROOT / "pages" / "upload.py")
ELICIT = str(ROOT / "pages" / "elicit.py")
TIMEOUT = 60  # the first run imports pandas/duckdb; 2 shared cores
HEADER = b"question,answer,model,language"
# 60 KB of commas: 30,000 columns without a name, which once made 30,000 error boxes
EMPTY_NAMES = b"," * 30_000 + b"\nQ?,A.,m,eng\n"
BAD_SAMPLES = ("\u00b2", "9" * 5000, "99999999999999999999", "-1")
FORMULAS = (' =HYPERLINK("http://x")', "\t=1+2", "\u200b@SUM(A1)", "\u00a0+1", " \t-2+3")


def upload_page(db: Path) -> AppTest:
    at = AppTest.from_file(UPLOAD, default_timeout=TIMEOUT)
    at.session_state["db"] = str(db)
    return at.run()


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    return at.get("file_uploader")[0].upload(name, data, "text/csv").run()


def literal(markdown: str) -> str:
    """The text a page passed through `plain`, without its Markdown escapes."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def shown(at: AppTest) -> str:
    """Every text the page shows, to look for what must not be there."""
    kinds = ("error", "warning", "info", "success", "markdown", "caption", "exception", "code")
    return "\n".join(literal(str(getattr(e, "value", e))) for kind in kinds for e in at.get(kind))


def errors(at: AppTest) -> list[str]:
    return [literal(e.value) for e in at.error]


def qa_csv(rows: int, answer_chars: int = 900) -> bytes:
    filler = ("freedom family duty honour tradition safety power care " * 20)[:answer_chars]
    body = "".join(f"Question {i}?,{filler} {i}.,m{i % 5},eng\n" for i in range(rows))
    return HEADER + b"\n" + body.encode()


# --- header problems are capped ----------------------------------------------------------------


def test_a_header_of_empty_names_gives_a_few_problems_and_a_count():
    v = validate_bytes(EMPTY_NAMES, name="wide.csv")
    assert 2 <= len(v.errors) <= MAX_HEADER_PROBLEMS + 1
    assert v.errors[-1].startswith("... and ") and "more problems with the header" in v.errors[-1]
    assert "columns without a name" in v.errors[-1]
    assert all(len(e) < 600 for e in v.errors)  # nor one huge line listing them all


def test_a_header_of_many_names_is_listed_in_short(tmp_path):
    names = b",".join(b"c%d" % i for i in range(30_000))
    v = validate_bytes(names + b"\n" + b"x," * 29_999 + b"x\n")
    assert len(v.errors) <= MAX_HEADER_PROBLEMS + 1
    assert all(len(e) < 1000 for e in v.errors + v.notes), [len(e) for e in v.errors]
    assert "and 29,980 more" in v.errors[0]


def test_the_upload_page_shows_a_bounded_number_of_error_boxes(tmp_db):
    at = upload(upload_page(tmp_db), "wide.csv", EMPTY_NAMES)
    assert not at.exception
    assert 2 <= len(at.error) <= MAX_HEADER_PROBLEMS + 1
    assert "more problems with the header" in errors(at)[-1]
    assert not tmp_db.exists()


# --- the file is read as a stream --------------------------------------------------------------


class Recording(io.BytesIO):
    """A file that remembers how far it has been read."""

    furthest = 0

    def readinto(self, buffer):
        n = super().readinto(buffer)
        self.furthest = max(self.furthest, self.tell())
        return n

    def read(self, size=-1):
        data = super().read(size)
        self.furthest = max(self.furthest, self.tell())
        return data


def test_the_parser_reads_a_row_without_reading_the_file():
    data = qa_csv(8000)  # ~7.5 MB
    fh = Recording(data)
    table = csvfile.open_csv(fh, len(data))
    assert table.header == ["question", "answer", "model", "language"]
    assert next(table.rows)[0] == 2
    # the first row needs one chunk, not the file: it is decoded and split as it is read
    assert fh.furthest <= 2 * csvfile.CHUNK < len(data) / 3
    assert sum(1 for _ in table.rows) == 7999
    # a byte that is not UTF-8 far down is still named by its line, after one more pass
    v = validate_bytes(data + b"Caf\xe9?,A.,m,eng\n")
    assert v.errors == [
        "the file is not UTF-8 (byte 0xE9 on line 8002; it may be Latin-1 or Windows-1252); "
        "UTF-8 is expected: save it as 'CSV UTF-8'"
    ]


def test_validation_needs_little_memory_beyond_the_rows_it_keeps():
    """The bytes are the upload's own (Streamlit holds them once). The old reader decoded them
    into one str and read that through a StringIO, which keeps text as 4 bytes a character, and
    listed every row's cells before checking any: 4.6x the file above what it kept (measured:
    34 MB for this 7.4 MB file). Read as a stream, the extra is a 1 MB read buffer and the
    per-row bookkeeping of the duplicate checks (~0.4 KB a row): 0.47x here. The bound, 1x the
    file, sits between the two with room on either side."""
    data = qa_csv(8000)
    tracemalloc.start()
    try:
        v = validate_bytes(data, name="big.csv")
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert v.ok and len(v.rows) == 8000
    assert peak - kept < len(data), (peak - kept, len(data))


# --- formulas behind blanks and invisible characters -------------------------------------------


@pytest.mark.parametrize("cell", FORMULAS)
def test_a_formula_behind_blanks_is_flagged_and_neutralised_on_export(cell):
    quoted = '"' + cell.replace('"', '""') + '"'
    v = validate_bytes(HEADER + f"\nQ?,{quoted},m,eng\n".encode())
    assert v.ok and len(v.confirm) == 1, v.confirm
    assert "row 2, column answer: starts with" in v.confirm[0] and "formula" in v.confirm[0]
    import pandas as pd

    out = export.table_bytes(pd.DataFrame({"answer": [cell], "n": [1]}), "csv")
    line = out.decode("utf-8-sig").splitlines()[1]
    assert line.lstrip('"').startswith("'"), line
    # text that only starts with blanks, or holds an = later, is no formula
    assert not validate_bytes(HEADER + b'\nQ?,"  yes, = is fine",m,eng\n').confirm
    assert export.neutralise("  yes") == "  yes" and export.neutralise("a=1") == "a=1"


# --- sample numbers ----------------------------------------------------------------------------


def sample_csv(sample: str) -> bytes:
    return HEADER + b",sample\n" + f"Q?,A.,m,eng,{sample}\n".encode()


@pytest.mark.parametrize(
    "sample", BAD_SAMPLES, ids=("superscript", "5000 digits", "20 digits", "-1")
)
def test_a_bad_sample_is_one_row_problem(sample):
    v = validate_bytes(sample_csv(sample))
    assert not v.rows and len(v.errors) == 1, v.errors
    assert v.errors[0].startswith("row 2, column sample: ")
    assert "is not a whole number from 0 to 9999" in v.errors[0] and len(v.errors[0]) < 200
    assert validate_bytes(sample_csv("0042")).rows[0]["sample"] == 42


def test_bad_samples_on_the_page_are_one_message_each_and_write_nothing(tmp_db):
    at = upload_page(tmp_db)
    for i, sample in enumerate(BAD_SAMPLES):
        at = upload(at, f"s{i}.csv", sample_csv(sample))
        assert not at.exception, at.exception
        assert len(at.error) == 1 and "column sample" in errors(at)[0]
        assert not [b for b in at.button if b.label == "Import"]
    assert not tmp_db.exists()


def test_bad_samples_on_the_cli_are_one_message_each_and_write_nothing(tmp_path, tmp_db, capsys):
    for i, sample in enumerate(BAD_SAMPLES):
        path = tmp_path / f"s{i}.csv"
        path.write_bytes(sample_csv(sample))
        assert main(["import", str(path), "--dataset", f"s{i}"]) == 2
        err = capsys.readouterr().err
        assert err.count("column sample") == 1, err
        assert "Traceback" not in err
    assert not tmp_db.exists()


# --- one size limit ----------------------------------------------------------------------------


def test_the_cli_help_states_the_policy_limit(monkeypatch, capsys):
    conf = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text("utf-8"))
    assert conf["server"]["maxUploadSize"] == policy.DEFAULT_MAX_UPLOAD_MB == 200
    monkeypatch.delenv("UNIVAR_MAX_UPLOAD_MB", raising=False)
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    assert "default: 200 MB" in " ".join(capsys.readouterr().out.split())
    monkeypatch.setenv("UNIVAR_MAX_UPLOAD_MB", "1")
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    assert "default: 1 MB" in " ".join(capsys.readouterr().out.split())


def test_one_limit_for_the_cli_and_the_page(tmp_path, tmp_db, monkeypatch, capsys):
    monkeypatch.setenv("UNIVAR_MAX_UPLOAD_MB", "1")
    data = qa_csv(2300)  # ~2 MB
    assert 2 * 2**20 <= len(data) < 3 * 2**20
    path = tmp_path / "two.csv"
    path.write_bytes(data)
    assert main(["import", str(path), "--dataset", "two"]) == 2
    err = capsys.readouterr().err
    assert err.count("over the 1.0 MB limit") == 1, err
    assert not tmp_db.exists()

    at = upload_page(tmp_db)
    widget = at.get("file_uploader")[0]
    assert widget.proto.max_upload_size_mb == 1 and "Up to 1 MB" in widget.proto.help
    at = upload(at, "two.csv", data)
    assert not at.exception
    assert len(at.error) == 1 and "over the 1.0 MB limit" in errors(at)[0]
    assert not tmp_db.exists()


# --- no tracebacks, no server paths ------------------------------------------------------------


def test_an_unexpected_error_on_upload_is_one_line_and_goes_to_the_log(tmp_db, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("/secret/path boom")

    monkeypatch.setattr(validate, "validate_bytes", boom)
    at = upload_page(tmp_db)
    with caplog.at_level(logging.ERROR, logger="univar.pages"):
        at = upload(at, "good.csv", HEADER + b"\nQ?,A.,m,eng\n")
    assert not at.exception
    assert len(at.error) == 1 and "Something went wrong" in errors(at)[0]
    text = shown(at)
    assert "/secret/path" not in text and "/work/" not in text and "Traceback" not in text
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "/secret/path boom" in str(logged[0].exc_info[1])


# --- the Elicit page's question file -----------------------------------------------------------


def test_rerunning_elicit_with_a_question_file_leaves_no_temp_files(tmp_path, tmp_db, monkeypatch):
    from univar.llm.local_server import free_port

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("UNIVAR_LOCAL_LLM_URL", f"http://127.0.0.1:{free_port()}/v1")
    at = AppTest.from_file(ELICIT, default_timeout=TIMEOUT)
    at.session_state["db_path"] = str(tmp_db)
    at.run()
    at.radio(key="el_qmode").set_value("From a CSV file").run()
    csv = b"question\nWould you lie to protect a friend?\nIs tradition worth keeping?\n"
    at.get("file_uploader")[0].upload("my_questions.csv", csv, "text/csv").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    before = sorted(p.name for p in temp.rglob("*"))
    for _ in range(3):
        at.run()
    assert not at.exception
    assert sorted(p.name for p in temp.rglob("*")) == before
    assert not [name for name in before if name.startswith("univar-q-")]
    # the file's own problems name it as the user knows it, never a server path
    at.get("file_uploader")[0].upload("bad.csv", b"text\nhello\n", "text/csv").run()
    assert any("bad.csv: missing column 'question'" in e for e in errors(at))
    assert str(tmp_path) not in shown(at) and "univar-q-" not in shown(at)
