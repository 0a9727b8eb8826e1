"""Train & evaluate: train a UniVaR value encoder on the QA pairs in the database (in the
background, with its loss curve), then measure how well encoders tell LLMs apart from a single
answer, as the paper does: k-NN and a linear probe on held-out QAs, a results table and a
confusion matrix."""

from __future__ import annotations

import streamlit as st

from pages._shared import current_db, plain, policy
from univar import encoders, hardware
from univar.analysis import evaluation
from univar.config import field_default
from univar.errors import UserError
from univar.figures import training_charts
from univar.quality.filter import QualityFilter
from univar.training import settings, splits, train

db = current_db()
rules = policy()
runs_dir = train.runs_root(rules)
MODES = {
    "head": "Projection head (fast on a CPU: minutes)",
    "lora": "LoRA adapter (small file; wants a GPU)",
    "full": "Full fine-tuning (largest file; wants a GPU)",
}


@st.cache_resource(show_spinner="Looking for a GPU ...")
def gpu() -> dict:
    return hardware.cuda_info()


def hardware_notice() -> dict:
    info = gpu()
    if info["cuda"]:
        st.success(f"GPU found: {info['name']} (x{info['devices']}). Training uses CUDA with bf16.")
    else:
        st.info(
            "No CUDA GPU here: training runs on the CPU. Time estimates come from throughput "
            "measured on a 2-core machine; the projection head is the quick choice."
        )
    return info


def train_default(name: str):
    return field_default(settings.TrainConfig, name)


def training_form(sizes: dict, info: dict, quality: QualityFilter) -> None:
    datasets = st.multiselect("Train on", list(sizes), default=list(sizes), key="te_datasets")
    mode = st.radio("Mode", list(MODES), format_func=MODES.get, horizontal=True, key="te_mode")
    a, b, c, d = st.columns(4)
    lam = a.number_input("λ (most QAs per view)", 1, 80, train_default("lam"), key="te_lambda")
    epochs = b.number_input(
        "Epochs", 0.1, 500.0, settings.DEFAULT_EPOCHS[mode], key=f"te_ep_{mode}"
    )
    batch = c.number_input(
        "Views per step", 4, 512, train_default("batch_size"), step=2, key="te_batch"
    )
    temperature = d.number_input(
        "Temperature", 0.01, 1.0, train_default("temperature"), format="%.3f", key="te_temp"
    )
    hold_out = st.checkbox(
        f"Hold out {train_default('holdout_fraction'):.0%} of the questions, so Evaluate "
        "(question split) measures unseen ones",
        value=True,
        key="te_hold_out",
    )
    try:
        held_models = model_fold_widgets(datasets, quality)
    except UserError as exc:  # e.g. a single model: nothing to hold out
        st.error(plain(exc))
        return
    where = "the data folder's encoders/" if rules.shared else "out/encoders/"
    out = st.text_input(f"Output folder (empty: a new folder under {where})", key="te_out")
    if not datasets:
        st.warning("Pick at least one dataset to train on.")
        return
    try:
        cfg = settings.TrainConfig(
            mode=mode,
            lam=int(lam),
            epochs=float(epochs),
            batch_size=int(batch),
            temperature=float(temperature),
            datasets=tuple(datasets),
            split="model" if held_models else "question" if hold_out else None,
            **(held_models or {}),
            quality=quality,
        )
    except UserError as exc:
        st.error(plain(exc))
        return
    n_qas = sum(sizes[name] for name in datasets)
    est = train.estimate(cfg, n_qas)
    where = "on the GPU: much less" if info["cuda"] else "on this CPU"
    st.caption(
        f"{n_qas:,} QA pairs · {est['steps']:,} steps ({est['steps_per_epoch']:,} per epoch) · "
        f"about {est['cpu_seconds'] / 60:.0f} min of CPU time ({where})."
    )
    running = st.session_state.get("te_job") is not None and st.session_state.te_job.running
    if st.button("Start training", type="primary", disabled=running, key="te_start"):
        try:
            st.session_state.te_job = train.TrainJob(
                cfg, out or train.default_out(cfg, runs_dir), db, policy=rules
            )
        except UserError as exc:
            st.error(plain(exc))


def model_fold_widgets(datasets: list, quality: QualityFilter) -> dict | None:
    """{folds, fold} when training is to hold out one fold of whole models, else None."""
    hold = st.checkbox(
        "Hold out whole models instead (one fold of them), so Evaluate (model split) measures "
        "models never seen in training",
        value=False,
        key="te_hold_models",
    )
    if not hold or not datasets:
        return None
    models = splits.dataset_models(db, datasets, quality)
    a, b, c = st.columns([1, 1, 2])
    n_folds = a.number_input(
        "Folds of models", 2, max(2, len(models)), train_default("folds"), key="te_train_folds"
    )
    fold = b.number_input(
        "Hold out fold",
        0,
        int(n_folds) - 1,
        min(train_default("fold"), int(n_folds) - 1),
        key="te_train_fold",
    )
    dealt = splits.model_folds(models, int(n_folds), train_default("seed"))
    c.caption("Held out of training: " + plain(", ".join(dealt[int(fold)])))
    return {"folds": int(n_folds), "fold": int(fold)}


def job_panel() -> None:
    job = st.session_state.get("te_job")
    if job is None:
        return

    @st.fragment(run_every=2.0 if job.running else None)
    def progress() -> None:
        snap = job.snapshot()
        if snap["error"]:
            st.error(f"Training failed: {plain(snap['error'])}")
        elif snap["running"]:
            total = max(snap.get("total") or 1, 1)
            step = min(snap.get("step") or 0, total)
            eta = snap.get("eta_s")
            doing = plain(snap.get("message") or snap["stage"])  # it names encoders and folders
            count = f": {step:,} of {total:,}" if snap.get("total") else ""
            st.progress(
                step / total,
                text=doing + count + (f" · about {eta / 60:.1f} min left" if eta else ""),
            )
            st.button("Stop (keeps a checkpoint to resume)", on_click=job.stop, key="te_stop")
        else:
            result = snap["result"] or {}
            status = result.get("training", {}).get("status", "done")
            st.success(f"Training {status}: `{job.out}`")
            if status == "done" and st.button("Use this encoder for maps", key="te_use"):
                st.session_state.encoder = str(job.out)
        st.plotly_chart(training_charts.loss_curve_figure(snap["curve"]), key="te_curve")
        if not snap["running"] and st.session_state.get("te_polling"):
            st.session_state.te_polling = False
            st.rerun()  # the whole page: stop polling, list the new encoder
        st.session_state.te_polling = snap["running"]

    progress()


def trained_panel() -> None:
    """What each finished encoder is: mode, data, speed, measured accuracy, loss curve."""
    runs = train.trained_runs(runs_dir)
    if not runs:
        return
    with st.expander(f"Trained encoders ({len(runs)})"):
        pick = st.selectbox("Encoder", runs, format_func=lambda p: p.name, key="te_run")
        record = train.read_record(pick)
        t, data = record.get("training", {}), record.get("data", {})
        st.markdown(
            # the base and dataset names of a run, perhaps another user's, are data
            f"**{plain(record['kind'])}** on {plain(record['base'])} · "
            f"{data.get('n_qas', '?'):,} QAs of {plain(', '.join(data.get('datasets', [])))} · "
            f"{t.get('steps', '?')} steps in "
            f"{t.get('seconds', 0) / 60:.1f} min ({t.get('qas_per_s', '?')} QAs/s on "
            f"{record.get('machine', {}).get('device', '?')}) · trained {record.get('date', '?')}"
        )
        for key, result in record.get("metrics", {}).items():
            st.caption(f"Measured: {plain(key)}")
            st.dataframe(result["results"], hide_index=True)
        st.plotly_chart(
            training_charts.loss_curve_figure(train.read_curve(pick)), key="te_run_curve"
        )


def split_widgets() -> dict:
    """The split of an evaluation, outside its form so a model split's fold widgets appear as
    soon as it is picked."""
    a, b, c = st.columns([2, 1, 1])
    split_default = field_default(splits.Split, "kind")
    split = a.radio(
        "Split",
        # the default first: it is the stricter one, and reads as the one to pick
        [split_default, *(s for s in splits.SPLITS if s != split_default)],
        horizontal=True,
        key="te_split",
        help="question: test questions never seen in training (stricter); "
        "random: per-QA, as in the paper; model: unseen models (each fold of models is held "
        "out of training, and only its identities are told apart)",
    )
    if split != "model":
        return {"split": split}
    n_folds = b.number_input(
        "Folds of models", 2, 100, field_default(splits.Split, "folds"), key="te_folds"
    )
    fold_default = field_default(splits.Split, "fold")
    options = [fold_default, *(f for f in range(int(n_folds)) if f != fold_default)]
    fold = c.selectbox(
        "Fold",
        options,
        format_func=lambda f: "every fold" if f is None else f"fold {f}",
        key="te_fold",
        help="A trained encoder that held out one fold is measured on that fold alone.",
    )
    return {"split": split, "folds": int(n_folds), "fold": fold}


def evaluation_panel(sizes: dict, quality: QualityFilter) -> None:
    runs = [str(p) for p in train.trained_runs(runs_dir, shipped=False)]
    choices = [*encoders.encoder_choices(), *runs]
    split_args = split_widgets()
    with st.form("te_eval_form"):
        picked = st.multiselect(
            "Encoders",
            choices,
            default=choices[:1],
            key="te_encoders",
            help="Each trained encoder brings its base along; TF-IDF is always measured.",
        )
        extra = st.text_input("Another encoder (path or name)", key="te_extra")
        b, c, d = st.columns(3)
        target = b.selectbox(
            "Predict",
            list(evaluation.TARGETS),
            index=evaluation.TARGETS.index(evaluation.DEFAULT_TARGET),
            key="te_target",
        )
        k = c.number_input("k (neighbours)", 1, 500, evaluation.DEFAULT_K, key="te_k")
        datasets = d.multiselect("Datasets", list(sizes), default=list(sizes), key="te_eval_data")
        go = st.form_submit_button("Evaluate", type="primary", key="te_evaluate")
    if go:
        try:
            more = [encoders.check_allowed(extra.strip(), rules)] if extra.strip() else []
            names = [*picked, *more] or [evaluation.TFIDF]
            with st.spinner("Embedding and fitting (embeddings are cached for next time) ..."):
                st.session_state.te_report = evaluation.evaluate(
                    names,
                    db,
                    **split_args,
                    k=int(k),
                    target=target,
                    datasets=datasets or None,
                    tfidf=True,
                    quality=quality,
                )
        except UserError as exc:
            st.error(plain(exc))
    report = st.session_state.get("te_report")
    if report is None:
        return
    st.dataframe(report.table.drop(columns=["encoder_id"]), hide_index=True, key="te_table")
    st.caption(f"Measured on {report.quality.describe()}.")
    summary = report.table
    if report.mean is not None:
        held = "; ".join(f"fold {f}: {', '.join(m)}" for f, m in report.fold_models.items())
        st.caption(
            "Per fold of unseen models, percent. Chance: the largest class's share of the test "
            "rows (chance_uniform: 1 / classes). Held out: " + plain(held)
        )
        st.markdown("**Mean over folds**")
        st.dataframe(report.mean.drop(columns=["encoder_id"]), hide_index=True, key="te_mean")
        summary = report.mean
    st.plotly_chart(training_charts.results_figure(summary), key="te_results")
    names = list(dict.fromkeys(report.table["encoder"]))
    left, right = st.columns([3, 1])
    pick = left.selectbox(
        "Confusion matrix of", names, format_func=training_charts.short_name, key="te_cm_encoder"
    )
    method = right.radio("Method", list(evaluation.METHODS), horizontal=True, key="te_cm_method")
    st.plotly_chart(
        training_charts.confusion_figure(evaluation.confusion(report, pick, method)),
        key="te_confusion",
    )


st.title("Train & evaluate")
st.caption(
    "A UniVaR encoder learns to place answers by the value system behind them (the "
    "model$language that gave them) rather than by topic. Evaluate measures that: from one "
    "answer, which LLM gave it?"
)
hw = hardware_notice()
quality = QualityFilter(
    include_flagged=st.toggle(
        "Include flagged QA pairs",
        value=field_default(QualityFilter, "include_flagged"),
        key="te_include_flagged",
        help="Answers the quality checks flagged are left out of training and evaluation by "
        "default.",
    )
)
sizes = splits.dataset_sizes(db, quality)
if not sizes:
    st.warning("The database holds no QA pairs yet: elicit or upload some first.")
    st.stop()
train_tab, eval_tab = st.tabs(["Train", "Evaluate"])
with train_tab:
    training_form(sizes, hw, quality)
    job_panel()
    trained_panel()
with eval_tab:
    evaluation_panel(sizes, quality)


def diagnostics_panel(sizes: dict, quality: QualityFilter) -> None:
    """The paper's controls for the encoders at hand: identification on value vs control
    questions, and how much of the language (or the model) the English text gives away."""
    from pages._export import export_buttons
    from univar.analysis import diagnostics
    from univar.figures import diagnostics_charts

    st.subheader("Diagnostics: is the map about values?")
    st.caption(
        "From one held-out answer (question-disjoint split, k-NN with k = 50), which "
        "model$language gave it: on value questions and on the bank's non-value control "
        "questions (elicit them with `--questions control`). A value encoder is high on values "
        "and near chance on controls. Leakage: the language (or model) guessed from the English "
        "text with models and languages balanced, on control questions where there are any; "
        "lower is better. Each measure's chance level is the dash."
    )
    runs = [str(p) for p in train.trained_runs(runs_dir, shipped=False)]
    choices = [*encoders.encoder_choices(), *runs]
    with st.form("te_diag_form"):
        picked = st.multiselect(
            "Encoders",
            choices,
            default=choices[:1],
            key="te_diag_encoders",
            help="Each trained encoder brings its base along; none picked: the app's default "
            "encoder and its base.",
        )
        datasets = st.multiselect("Datasets", list(sizes), default=list(sizes), key="te_diag_data")
        go = st.form_submit_button("Run diagnostics", key="te_diagnose")
    if go:
        try:
            with st.spinner("Embedding and fitting (embeddings are cached for next time) ..."):
                st.session_state.te_diag = diagnostics.diagnose(
                    picked, db, datasets=datasets or None, quality=quality
                )
        except UserError as exc:
            st.error(plain(exc))
    report = st.session_state.get("te_diag")
    if report is None:
        return
    st.dataframe(report.table.drop(columns=["encoder_id"]), hide_index=True, key="te_diag_table")
    grids = [
        f"{name} leakage on {len(g.models)} models x {len(g.languages)} languages"
        for name, g in (("language", report.language_grid), ("model", report.model_grid))
        if g is not None
    ]
    st.caption(
        f"Measured on {report.quality.describe()}; percent. "
        + plain("; ".join(grids) or "no models and languages to balance for leakage")
        + f" ({report.leakage_on} questions)."
    )
    fig = diagnostics_charts.diagnostics_figure(report.table)
    st.plotly_chart(fig, key="te_diag_chart")
    export_buttons(fig, report.table, "univar-diagnostics", key="te_diag")


with eval_tab:
    diagnostics_panel(sizes, quality)
