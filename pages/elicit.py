"""Elicit: choose models, languages and questions, see what a run will cost, run it in the
background with live progress, and find past runs to run again or resume."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException

from pages._shared import plain, policy, session_owner, shown_errors
from pages._shared_start import local_models, local_server_note, local_server_panel
from univar.catalog import instruments, questions, registry
from univar.config import field_default
from univar.elicit import engine, history, jobs
from univar.elicit.settings import ElicitConfig, GenerationConfig
from univar.errors import UserError
from univar.llm import local_server
from univar.llm.endpoints import check_allowed, check_connection
from univar.llm.keys import key_for, key_source_label, provider_of, redact_url
from univar.policy import origin

LOCAL_API_BASE = local_server.default_api_base()
MAP_PAGE = "pages/value_map.py"
STATUS_WORDS = {
    "starting": "Starting",
    "running": "Running",
    "done": "Finished",
    "cancelled": "Cancelled",
    "failed": "Failed",
}
db = st.session_state.get("db_path")  # set by the app's sidebar; None: $UNIVAR_DB or default
# endpoint_name -> key typed here, in this session's memory only
typed_keys: dict = st.session_state.setdefault("el_api_keys", {})
# api_base as stored (credentials redacted) -> as typed, so a past run can go there again
typed_bases: dict = st.session_state.setdefault("el_api_bases", {})
pol = policy()
me = session_owner()


def language_label(code: str) -> str:
    lang = registry.BY_CODE[code]
    native = f" ({lang.native})" if lang.native != lang.name else ""
    return f"{code} — {lang.name}{native}"


def money(cost) -> str:
    return "unknown" if cost is None else f"${cost:,.4f}"


def choose_models() -> list[tuple[str, str | None]]:
    """(litellm model, api_base) pairs chosen on the page."""
    known = {m.name: m for m in registry.MODELS}
    names = st.multiselect(
        "Models of the UniVaR paper",
        list(known),
        format_func=lambda n: (
            f"{n} — {known[n].provider}" + ("" if known[n].litellm else " (self-hosted)")
        ),
        key="el_known",
    )
    chosen = []
    for name in names:
        m = known[name]
        if m.litellm:
            chosen.append((m.litellm, None))
            continue
        base = st.text_input(
            f"api_base of a server running {name} (vLLM, llama.cpp ...)",
            key=f"el_base_{name}",
            placeholder="http://host:8000/v1",
        )
        if base.strip():
            chosen.append((f"hosted_vllm/{m.hf_id}", base.strip()))
        else:
            st.caption(f"{name} has no hosted API: give the address of a server that runs it.")
    served = [a for a in registry.LOCAL_MODELS if a in local_models(LOCAL_API_BASE)]
    if served:
        picks = st.multiselect(
            f"Local models at {LOCAL_API_BASE} (tiny stand-ins for real LLMs: weak answers)",
            served,
            format_func=lambda a: f"{a} — {registry.LOCAL_MODELS[a]}",
            key="el_local",
        )
        chosen += [(f"openai/{a}", LOCAL_API_BASE) for a in picks]
        local_server_note(LOCAL_API_BASE)
    else:
        local_server_panel(LOCAL_API_BASE)
    left, right = st.columns(2)
    custom = left.text_input("Any litellm model", key="el_custom", placeholder="openai/gpt-4o-mini")
    custom_base = right.text_input("Its api_base (optional)", key="el_custom_base")
    if custom.strip():
        chosen.append((custom.strip(), custom_base.strip() or None))
    allowed = []
    for model, base in dict.fromkeys(chosen):
        try:
            check_allowed(base, pol)
        except UserError as exc:  # said once, here: nothing is planned or sent for it
            st.error(plain(exc))
            continue
        if base:
            typed_bases[redact_url(base)] = base
        allowed.append((model, base))
    return allowed


def endpoint_name(model: str, api_base: str | None) -> str:
    """One typed key per provider and host: 'openai', 'openai@http://host:8000'."""
    provider = provider_of(model) or model.split("/", 1)[0]
    return f"{provider}@{origin(api_base) or api_base}" if api_base else provider


def ask_keys(chosen) -> dict[tuple[str, str | None], str]:
    """(model, api_base) -> a key typed here. The server's own key goes only to its provider's
    endpoints (`keys.key_for`), so every other endpoint gets a field of its own; each endpoint
    says which key it will use, never the key."""
    keys, asked, said = {}, set(), set()
    for model, base in chosen:
        name = endpoint_name(model, base)
        if base == LOCAL_API_BASE or provider_of(model) is None:
            continue  # the local server needs no key; litellm refuses an unknown provider
        at = f" at {plain(redact_url(base))}" if base else ""  # typed text: literal
        where = f"**{plain(provider_of(model))}**{at}"
        if key_for(model, base, policy=pol)[0] is None and name not in asked:
            asked.add(name)
            widget = f"el_key_{name}"
            if widget not in st.session_state and name in typed_keys:
                st.session_state[widget] = typed_keys[name]  # back on the page: keep it
            typed_keys[name] = st.text_input(
                f"API key for {plain(provider_of(model))}{at}",
                type="password",
                key=widget,
                help="Kept in this browser session's memory only: never saved or logged, and "
                "sent only to this endpoint.",
            )
        typed = typed_keys.get(name) if name in asked else None
        source = key_for(model, base, typed=typed, policy=pol)[1]
        if name not in said:
            said.add(name)
            st.caption(f"🔑 {where} uses {key_source_label(model, source)}.")
        if typed:
            keys[(model, base)] = typed
    return keys


def test_connections(chosen, keys) -> None:
    if st.button("Test connection", key="el_test", disabled=not chosen):
        results = {}
        with shown_errors("testing the connection"), st.spinner("One short request per model ..."):
            for m, base in chosen:
                try:
                    result = check_connection(m, base, keys.get((m, base)), policy=pol)
                    results[m] = (result.ok, result.message)
                except UserError as exc:
                    results[m] = (False, str(exc))
        st.session_state.el_conn = results
    for model, (ok, message) in st.session_state.get("el_conn", {}).items():
        (st.success if ok else st.error)(plain(f"{model}: {message}"))  # the server's words


def choose_questions() -> list[questions.Question]:
    mode = st.radio(
        "Questions",
        [
            "A number, balanced across values",
            "By framework and value",
            "An instrument's items",
            "From a CSV file",
        ],
        horizontal=True,
        key="el_qmode",
    )
    bank = questions.read_bank()
    if mode.startswith("A number"):
        n = st.number_input("How many questions", 1, len(questions.value_bank()), 20, key="el_qn")
        return questions.select_questions(db, int(n))
    if mode.startswith("By"):
        values = {(v["framework"], v["code"]): v for v in questions.read_values()}
        frameworks = st.multiselect(
            "Frameworks", sorted({f for f, _ in values}), key="el_frameworks"
        )
        options = [k for k in values if k[0] in frameworks]
        picked = st.multiselect(
            "Values (none chosen: every value of those frameworks)",
            options,
            format_func=lambda k: f"{k[0]} · {values[k]['value']}",
            key="el_values",
        )
        wanted = set(picked or options)
        return [q for q in bank if (q.framework, q.value_code) in wanted]
    if mode.startswith("An instrument"):
        instrument = st.selectbox(
            "Instrument",
            instruments.INSTRUMENTS,
            key="el_instrument",
            help="Its items are asked as open questions, as the paper asks PVQ-RR's; the value "
            "map can then ring these answers.",
        )
        return questions.select_questions(db, f"instrument:{instrument}")
    upload = st.file_uploader(
        "CSV with a `question` column (question_id, framework, code optional)",
        type=["csv"],
        key="el_qfile",
        max_upload_size=pol.max_upload_mb,
    )
    if upload is None:
        return []
    # read from memory: a copy on disk per rerun would pile up, and its path would show in
    # the file's error messages
    return questions.uploaded_questions(db, upload.name, upload.getvalue())


def show_plan(plans) -> None:
    t = jobs.plan_totals(plans)
    a, b, c, d, e = st.columns(5)
    a.metric("QA pairs", f"{t['qa_pairs']:,}")
    b.metric("Already stored", f"{t['stored']:,}")
    c.metric("Requests to send", f"{t['to_send']:,}")
    d.metric("At most tokens", f"{t['tokens']:,}")
    e.metric("Estimated cost", money(t["cost"]))
    st.caption(
        f"The {t['to_store']:,} QA pairs not stored yet need {t['requests']:,} requests "
        f"({t['answers']:,} answers, {t['translations']:,} translations); {t['cached']:,} of "
        "them are in the cache."
    )


def map_link(job) -> None:
    if st.session_state.get("el_linked") != job.job_id:  # once: later map choices stay
        st.session_state.map_models = list(job.models)
        st.session_state.map_languages = list(job.languages)
        st.session_state.el_linked = job.job_id
    params = {"models": ",".join(job.models), "languages": ",".join(job.languages)}
    try:
        st.page_link(
            MAP_PAGE, label="See these answers on the value map", icon="🗺️", query_params=params
        )
    except (StreamlitAPIException, KeyError):
        st.caption("The value map page is not part of this app.")


def draw_job(job) -> None:
    t = job.totals()
    now = f" {job.current}" if job.current and job.status == "running" else ""
    st.markdown(f"**{STATUS_WORDS[job.status]}{plain(now)}** · {plain(', '.join(job.languages))}")
    st.progress(
        t.done / max(t.total, 1),
        text=f"{t.done} of {t.total} QA pairs · {t.cached} from cache · {t.failed} failed · "
        f"{t.tokens:,} tokens · cost {money(t.cost)}",
    )
    st.dataframe(
        [
            {
                "language": language_label(p.language),
                "model": p.model,
                "done": p.done,
                "of": p.total,
                "from cache": p.cached,
                "failed": p.failed,
                "tokens": p.tokens,
                "cost": money(p.cost),
            }
            for p in job.progress()
        ],
        hide_index=True,
        width="stretch",
    )
    if job.live:
        if job.may_control(me):
            st.button(
                "Cancel",
                key=f"el_cancel_{job.job_id}",
                on_click=job.cancel,
                args=(me,),
                help="Stops new requests; every finished answer is kept.",
            )
        else:
            st.caption("Started in another browser session: you can watch it, not cancel it.")
        return
    if job.error:
        st.error(plain(job.error))
    for s in job.summaries:
        st.success(plain(f"{s.run_id}: {s.line()}"))
    if any(s.ok for s in job.summaries):
        map_link(job)


def show_jobs() -> None:
    """Running jobs of this app (any tab) and this session's last one, polled every second."""

    def current():
        mine = st.session_state.get("el_job")
        return [j for j in jobs.list_jobs(db) if j.live or j.job_id == mine]

    live = any(j.live for j in current())

    @st.fragment(run_every=1 if live else None)
    def panel():
        shown = current()
        if not shown:
            st.caption("Nothing is running.")
        for job in shown:
            with st.container(border=True):
                draw_job(job)
        if live and not any(j.live for j in shown):
            st.rerun()  # the whole page: the history gains the run and polling stops

    panel()


def start(configs, qs, keys, restart_run: str | None = None) -> None:
    with (
        shown_errors("starting the run") as outcome,
        st.spinner("Checking the settings and the connection ..."),
    ):
        if restart_run:
            job = jobs.restart(
                restart_run, db, api_keys=keys, api_bases=typed_bases, owner=me, policy=pol
            )
        else:
            job = jobs.start(configs, db, questions=qs, api_keys=keys, owner=me, policy=pol)
    if outcome.failed:
        return
    st.session_state.el_job = job.job_id
    st.rerun()


def show_history() -> None:
    runs = history.past_runs(db, live=jobs.live_run_models(db))
    if not runs:
        st.caption("No elicitation has run on this database yet.")
        return
    st.dataframe(history.table(runs), hide_index=True, width="stretch")
    by_id = {r.run_id: r for r in runs}
    run_id = st.selectbox(
        "Run",
        list(by_id),
        format_func=lambda r: f"{by_id[r].status} · {by_id[r].settings()} · {r}",
        key="el_history_run",
    )
    past = by_id[run_id]
    keys = {}
    if past.config:
        model = past.config.model
        base = typed_bases.get(past.config.api_base, past.config.api_base)
        if typed_keys.get(endpoint_name(model, base)):
            keys = {(model, base): typed_keys[endpoint_name(model, base)]}
    left, right = st.columns(2)
    if left.button("Run again", key="el_again", disabled=past.config is None):
        start(None, None, keys, restart_run=run_id)
    if right.button("Resume", key="el_resume", disabled=not (past.stopped and past.config)):
        start(None, None, keys, restart_run=run_id)


st.title("Elicit")
st.caption(
    "Ask LLMs value-eliciting questions in many languages, through litellm. Every request is "
    "cached in the database: running the same job again asks nothing."
)

st.subheader("1 · Models")
chosen = choose_models()
keys = ask_keys(chosen)
test_connections(chosen, keys)

st.subheader("2 · Languages and questions")
languages = st.multiselect(
    "Languages",
    [lang.code for lang in registry.LANGUAGES],
    default=["eng"],
    format_func=language_label,
    key="el_languages",
)
qs = []
with shown_errors("reading the questions"):
    qs = choose_questions()
cols = st.columns(5)
samples = cols[0].number_input(
    "Samples per question", 1, 100, field_default(ElicitConfig, "samples"), key="el_samples"
)
temperature = cols[1].slider(
    "Temperature",
    0.0,
    2.0,
    field_default(GenerationConfig, "temperature"),
    0.05,
    key="el_temperature",
)
max_tokens = cols[2].number_input(
    "Max new tokens", 1, 4096, field_default(GenerationConfig, "max_tokens"), key="el_max_tokens"
)
concurrency = cols[3].number_input(
    "Concurrency", 1, 64, field_default(ElicitConfig, "concurrency"), key="el_concurrency"
)
dataset = cols[4].text_input("Dataset", field_default(ElicitConfig, "dataset"), key="el_dataset")

st.subheader("3 · Before running")
configs, plans = [], []
if not (chosen and languages and qs):
    st.info("Choose at least one model, one language and some questions.")
else:
    with shown_errors("planning the run") as outcome:
        configs = jobs.build_configs(
            chosen,
            languages,
            [q.question_id for q in qs],
            samples=int(samples),
            temperature=temperature,
            max_tokens=int(max_tokens),
            concurrency=int(concurrency),
            dataset=dataset.strip(),
        )
        with st.spinner("Counting what is cached ..."):
            plans = [engine.plan(c, db, questions=qs, policy=pol) for c in configs]
        show_plan(plans)
    if outcome.failed:
        configs, plans = [], []
if st.button("Run", type="primary", key="el_run", disabled=not plans):
    start(configs, qs, keys)

st.subheader("4 · Progress")
show_jobs()

st.subheader("5 · Run history")
show_history()
