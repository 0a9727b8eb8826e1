"""Writes the broken CSVs of this folder (`python tests/bad_csv/make_bad_csv.py`).

Kept as a script because several are binary or huge on purpose; the expected message of each
is in tests/test_importers.py (BAD_FILES)."""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEAD = "question,answer,model,language\n"
OK = "Is honesty important to you?,Yes: it builds trust.,demo-model,eng\n"

FILES: dict[str, bytes] = {
    "empty.csv": b"",
    "header_only.csv": HEAD.encode(),
    "missing_column.csv": b"question,answer,model\nIs honesty important?,Yes.,demo-model\n",
    "misspelt_column.csv": (
        b"question,answer,model,language,answer_english\n"
        b"Is honesty important?,Yes.,demo-model,eng,Yes.\n"
    ),
    "utf16.csv": (HEAD + OK).encode("utf-16"),
    "latin1.csv": (HEAD + "Aimez-vous la liberté ?,Oui, beaucoup.,demo-model,fra\n").encode(
        "latin-1"
    ),
    "unknown_language.csv": (HEAD + OK + "Aimez-vous la liberté ?,Oui.,demo-model,fre\n").encode(),
    "empty_answer.csv": (HEAD + OK + "Is tradition important?,,demo-model,eng\n").encode(),
    "duplicate_rows.csv": (HEAD + OK + OK).encode(),
    "over_size_limit.csv": (HEAD + OK * 40).encode(),  # the test sets a 1 KB limit
    "formula_cells.csv": (
        HEAD + OK + 'Add these?,"=HYPERLINK(""http://x"",""y"")",demo-model,eng\n'
    ).encode(),
    "bad_quoting.csv": (HEAD + OK + 'Is "freedom" key?,"Yes" indeed,demo-model,eng\n').encode(),
    "unclosed_quote.csv": (HEAD + OK + '"Is freedom key?,Yes,demo-model,eng\n').encode(),
    "ragged_rows.csv": (HEAD + OK + "Is freedom key?,Yes, of course,demo-model,eng\n").encode(),
    "binary_garbage.csv": random.Random(7).randbytes(4096),
    "excel_workbook.csv": b"PK\x03\x04\x14\x00\x06\x00" + b"[Content_Types].xml" + b"\x00" * 64,
    "control_chars.csv": (HEAD + "Is honesty important?,Yes\x1b[31m red,demo-model,eng\n").encode(),
    "huge_field.csv": (
        HEAD + "Is honesty important?," + "a" * 60_000 + ",demo-model,eng\n"
    ).encode(),
    "bad_sample.csv": (HEAD.strip() + ",sample\n" + OK.strip() + ",first\n").encode(),
    "dollar_in_model.csv": (HEAD + "Is honesty important?,Yes.,gpt$4,eng\n").encode(),
}

if __name__ == "__main__":
    for name, content in FILES.items():
        (HERE / name).write_bytes(content)
    print(f"wrote {len(FILES)} files to {HERE}")
