"""CLI flags and page widgets start at their settings dataclass's defaults and offer its choices.

Expected values are read from the dataclasses (and `evaluate()`'s signature), never from the
parser, so a default or choice list retyped in a command or page that drifts fails here.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from univar.analysis import distances, evaluation
from univar.analysis.projection import METHODS, METRICS, ProjectionConfig
from univar.analysis.uncertainty import UncertaintyConfig
from univar.cli import build_parser, main
from univar.config import ConfigError, field_default
from univar.elicit.settings import ElicitConfig, GenerationConfig
from univar.elicit.survey import SURVEY_INSTRUMENTS, SurveyConfig
from univar.encoders.trained import MODES
from univar.errors import UserError
from univar.quality.filter import QualityFilter
from univar.training.losses import LOSSES
from univar.training.settings import DEFAULT_EPOCHS, DEFAULT_LR, TrainConfig
from univar.training.splits import SPLITS, Split

PAGES = Path(__file__).resolve().parent.parent / "pages"


def defaults(cls, *names: str) -> dict:
    return {name: field_default(cls, name) for name in names}


def every_field(cls) -> dict:
    return defaults(cls, *(f.name for f in dataclasses.fields(cls)))


EVALUATE_SIGNATURE = inspect.signature(evaluation.evaluate).parameters

# flag dest -> the default it must have, read from the settings it feeds
SETTINGS = {
    "train": defaults(
        TrainConfig,
        "mode",
        "lam",
        "epochs",
        "steps",
        "batch_size",
        "lr",
        "temperature",
        "loss",
        "base",
        "max_seq_length",
        "lora_r",
        "checkpoint_every",
        "split",
        "holdout_fraction",
        "seed",
        "folds",
        "fold",
    )
    | defaults(QualityFilter, "include_flagged"),
    "elicit": {
        **defaults(
            ElicitConfig,
            "api_base",
            "samples",
            "concurrency",
            "max_retries",
            "dataset",
            "translator",
            "translator_api_base",
            "fallback_translator",
            "fallback_translator_api_base",
        ),
        "timeout": field_default(ElicitConfig, "timeout_s"),
        **defaults(GenerationConfig, "temperature", "top_p", "max_tokens", "system_prompt"),
    },
    # every projection field: map_settings builds ProjectionConfig from these flags alone
    "project": {**every_field(ProjectionConfig), **defaults(QualityFilter, "include_flagged")},
    "export": {
        **every_field(ProjectionConfig),
        **defaults(UncertaintyConfig, "resamples", "permutations"),
        **defaults(QualityFilter, "include_flagged"),
    },
    "survey": {
        **defaults(
            SurveyConfig,
            "instrument",
            "api_base",
            "samples",
            "temperature",
            "top_p",
            "max_tokens",
            "concurrency",
            "translator",
            "translator_api_base",
        ),
        "languages": ",".join(field_default(SurveyConfig, "languages")),
    },
    "evaluate": {
        name: EVALUATE_SIGNATURE[name].default
        for name in ("split", "holdout_fraction", "seed", "folds", "fold", "k", "metric", "target")
    }
    | defaults(QualityFilter, "include_flagged"),
    "embed": defaults(QualityFilter, "include_flagged"),
}

# flag dest -> the tuple its settings are validated against
CHOICES = {
    "train": {"mode": MODES, "loss": LOSSES, "split": SPLITS},
    "evaluate": {
        "split": SPLITS,
        "metric": evaluation.METRICS,
        "target": evaluation.TARGETS,
        "method": evaluation.METHODS,
    },
    "project": {"method": METHODS, "metric": METRICS},
    "export": {
        "method": METHODS,
        "metric": METRICS,
        "by": distances.GROUPINGS,
        "distance": tuple(distances.METRICS),
    },
    "survey": {"instrument": SURVEY_INSTRUMENTS},
}

# Flags that are no setting with a dataclass default (what to read, where to write, filters).
# A new flag must land in SETTINGS or here, so none slips in with a retyped default.
NOT_SETTINGS = {
    "train": {"out", "one_way", "resume", "datasets", "also_train", "value_fulcra"},
    "elicit": {"model", "languages", "questions", "no_progress", "api_key_env"},
    "project": {"encoder", "model", "language", "dataset", "out", "refit"},
    "export": {
        "kind",
        "format",
        "out",
        "encoder",
        "model",
        "language",
        "dataset",
        "color_by",
        "by",
        "distance",
        "instrument",
        "width",
        "height",
    },
    "survey": {"model", "api_key", "list"},
    "evaluate": {"encoder", "datasets", "value_fulcra", "method", "no_tfidf", "json", "record"},
    "embed": {"encoder", "dataset", "batch_size", "trust_remote_code"},
}


def actions(verb: str) -> dict:
    parser = build_parser([verb])
    sub = parser._subparsers._group_actions[0].choices[verb]
    return {a.dest: a for a in sub._actions if a.dest not in ("help", "db")}


@pytest.mark.parametrize("verb", sorted(SETTINGS))
def test_flag_defaults_are_the_dataclass_defaults(verb):
    acts = actions(verb)
    for dest, expected in SETTINGS[verb].items():
        assert dest in acts, f"{verb}: no flag for the setting {dest}"
        got = acts[dest].default
        assert got == expected and type(got) is type(expected), (
            f"{verb} --{dest}: default {got!r}, settings say {expected!r}"
        )


@pytest.mark.parametrize("verb", sorted(CHOICES))
def test_flag_choices_are_the_validated_tuples(verb):
    acts = actions(verb)
    for dest, expected in CHOICES[verb].items():
        assert tuple(acts[dest].choices) == tuple(expected), f"{verb} --{dest}"


@pytest.mark.parametrize("verb", sorted(SETTINGS))
def test_every_flag_is_accounted_for(verb):
    unknown = set(actions(verb)) - set(SETTINGS[verb]) - NOT_SETTINGS[verb]
    assert not unknown, f"{verb}: map {sorted(unknown)} to a settings field or to NOT_SETTINGS"


def test_the_dataclasses_accept_every_choice_and_reject_others():
    cases = [
        (lambda v: TrainConfig(mode=v), MODES),
        (lambda v: TrainConfig(loss=v), LOSSES),
        (lambda v: TrainConfig(split=v), SPLITS),
        (lambda v: Split(kind=v), SPLITS),
        (lambda v: ProjectionConfig(method=v), METHODS),
        (lambda v: ProjectionConfig(metric=v), METRICS),
    ]
    for make, choices in cases:
        for value in choices:
            make(value)
        with pytest.raises((UserError, ConfigError)):
            make("no-such-choice")


def test_evaluate_and_its_split_agree_on_the_defaults():
    split = {
        "split": "kind",
        "holdout_fraction": "holdout_fraction",
        "seed": "seed",
        "folds": "folds",
        "fold": "fold",
    }
    for arg, name in split.items():
        assert EVALUATE_SIGNATURE[arg].default == field_default(Split, name)


def test_the_paired_train_flags_keep_the_dataclass_defaults():
    acts = actions("train")
    # --one-way turns symmetric off, so by default it must be left on
    assert acts["one_way"].default is (not field_default(TrainConfig, "symmetric"))
    # run() passes lora_alpha = 2 * --lora-r
    assert 2 * acts["lora_r"].default == field_default(TrainConfig, "lora_alpha")
    assert tuple(acts["datasets"].default or ()) == field_default(TrainConfig, "datasets")


def test_project_defaults_build_the_default_config():
    from univar.commands.project import map_settings

    args = build_parser(["project"]).parse_args(["project"])
    assert map_settings(args)[1] == ProjectionConfig()


def help_text(capsys, verb: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main([verb, "--help"])
    assert exc.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines to the terminal


def test_train_help_shows_the_dataclass_defaults(capsys):
    text = help_text(capsys, "train")
    for name in ("lam", "batch_size", "temperature", "base"):
        assert f"(default: {field_default(TrainConfig, name)})" in text, name
    assert f"{DEFAULT_EPOCHS['head']:g} head" in text
    assert f"{DEFAULT_LR['lora']:g} lora" in text


def test_evaluate_and_survey_help_show_the_defaults(capsys):
    assert f"(default: {evaluation.DEFAULT_K})" in help_text(capsys, "evaluate")
    languages = ",".join(field_default(SurveyConfig, "languages"))
    assert f"(default: {languages})" in help_text(capsys, "survey")


def test_the_elicit_page_starts_at_the_elicit_defaults(tmp_db, monkeypatch):
    from univar.llm.local_server import free_port

    monkeypatch.setenv("UNIVAR_LOCAL_LLM_URL", f"http://127.0.0.1:{free_port()}/v1")
    at = AppTest.from_file(str(PAGES / "elicit.py"), default_timeout=60)
    at.session_state["db_path"] = str(tmp_db)
    at.run()
    assert not at.exception
    assert at.number_input(key="el_samples").value == field_default(ElicitConfig, "samples")
    assert at.slider(key="el_temperature").value == field_default(GenerationConfig, "temperature")
    assert at.number_input(key="el_max_tokens").value == field_default(
        GenerationConfig, "max_tokens"
    )
    assert at.number_input(key="el_concurrency").value == field_default(ElicitConfig, "concurrency")
    assert at.text_input(key="el_dataset").value == field_default(ElicitConfig, "dataset")


def test_the_train_page_starts_at_the_train_and_evaluate_defaults(tmp_db, tmp_path):
    from test_train import write_fulcra

    from univar.ingest import value_fulcra

    src = tmp_path / "small.jsonl"
    write_fulcra(src, n_questions=30)
    value_fulcra.load_value_fulcra(src, tmp_db, dataset="small")
    at = AppTest.from_file(str(PAGES / "train_evaluate.py"), default_timeout=120)
    at.session_state["db"] = str(tmp_db)
    at.run()
    assert not at.exception
    assert at.number_input(key="te_lambda").value == field_default(TrainConfig, "lam")
    assert at.number_input(key="te_batch").value == field_default(TrainConfig, "batch_size")
    assert at.number_input(key="te_temp").value == field_default(TrainConfig, "temperature")
    holdout = field_default(TrainConfig, "holdout_fraction")
    assert f"Hold out {holdout:.0%}" in at.checkbox(key="te_hold_out").label
    assert at.radio(key="te_split").value == field_default(Split, "kind")
    assert set(at.radio(key="te_split").options) == set(SPLITS)
    assert at.selectbox(key="te_target").value == EVALUATE_SIGNATURE["target"].default
    assert list(at.selectbox(key="te_target").options) == list(evaluation.TARGETS)
    assert at.number_input(key="te_k").value == EVALUATE_SIGNATURE["k"].default


def test_the_value_map_starts_at_the_projection_defaults(tmp_path_factory, tmp_path, monkeypatch):
    from helpers_demo import copy_db, demo_template

    from univar.analysis import projection

    # PCA stands in for UMAP (real UMAP compiles for ~30 s); the widgets are what is checked
    monkeypatch.setitem(projection.PROJECTORS, "umap", projection.PCAProjector())
    monkeypatch.setenv("UNIVAR_DB", str(copy_db(demo_template(tmp_path_factory, 12), tmp_path)))
    at = AppTest.from_file(str(PAGES.parent / "app.py"), default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    cfg = ProjectionConfig()

    def widget(kind: str, label: str):
        return next(w for w in at.get(kind) if w.label == label)

    method = widget("radio", "Method")
    assert (method.value, list(method.options)) == (cfg.method, [m.upper() for m in METHODS])
    metric = widget("selectbox", "Metric")
    assert (metric.value, list(metric.options)) == (cfg.metric, list(METRICS))
    assert widget("slider", "UMAP neighbours").value == cfg.n_neighbors
    assert widget("slider", "UMAP min. distance").value == cfg.min_dist
    assert widget("number_input", "Seed").value == cfg.seed
    assert widget("number_input", "UMAP fit sample").value == cfg.fit_sample
