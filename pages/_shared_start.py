"""What a page starts in the background for its user: the local model server (a llama.cpp
process, local mode only) and a survey of one model$language, each with its progress polled
every second and a rerun of the whole page once it is ready."""

from __future__ import annotations

import shlex

import streamlit as st

from pages._shared import plain, policy, session_owner, shown_errors
from univar import ids
from univar.catalog.registry import LOCAL_MODELS
from univar.elicit import jobs
from univar.elicit.survey import SurveyConfig
from univar.errors import UserError
from univar.llm import local_server
from univar.llm.keys import redact_url

LOCAL_NAMES = ", ".join(LOCAL_MODELS.values())


def local_models(api_base: str) -> list[str]:
    """The aliases a local server lists at `api_base` ([] when none answers), for 15 s. A server
    this app started gets longer to answer: a busy machine may take a while to list them."""
    bg = local_server.background(api_base)
    return _listed(api_base, 5.0 if bg is not None and bg.state == "up" else 0.5)


@st.cache_data(ttl=15, show_spinner=False)
def _listed(api_base: str, timeout: float) -> list[str]:
    return local_server.served_models(api_base, timeout=timeout)


def local_server_panel(api_base: str, key: str = "local") -> None:
    """Where no local model server answers: a button that starts one in the background (local
    mode only; a shared server's users start no processes), its progress, then the page again.
    `key`: tells two panels on one page apart."""
    bg = local_server.background(api_base)
    if bg is not None and bg.state == "up":
        listing(api_base)
        return
    if bg is not None and bg.live:
        starting_progress(bg)
        return
    where = plain(f"No local model server answers at {api_base}")
    if policy().shared:
        st.caption(f"{where}: its operator starts one with `python -m univar serve-local`.")
        return
    st.caption(f"{where}.")
    if bg is not None and bg.error:
        st.error(plain(f"The local models did not start: {bg.error}"))
    if st.button(
        f"Start the local models ({LOCAL_NAMES})",
        key=f"{key}_start",
        help="Runs the llama.cpp server of `python -m univar serve-local` in the background of "
        "this app: it installs llama-cpp-python if needed, assembles the GGUF files, loads both "
        "models, and stops when the app stops. Both are tiny stand-ins for real LLMs.",
    ):
        with shown_errors("starting the local models") as outcome:
            local_server.start_background(api_base, policy=policy())
        if not outcome.failed:
            st.rerun()


def local_server_note(api_base: str) -> None:
    """Under the local models' list: whether this app started them (and so stops them)."""
    bg = local_server.background(api_base)
    if bg is not None and bg.state == "up":
        st.caption("✅ Up: started by this app, which stops them when it stops.")


def listing(api_base: str) -> None:
    """Up, but its models were not listed when the page asked: asked again every 2 s."""

    @st.fragment(run_every=2)
    def poll():
        if local_server.served_models(api_base, timeout=5.0):
            _listed.clear()
            st.rerun()  # the whole page, which lists them now
        st.caption(plain(f"The local models are up at {api_base}; waiting for them to answer ..."))

    poll()


def starting_progress(bg: local_server.BackgroundServer) -> None:
    @st.fragment(run_every=1)
    def poll():
        if not bg.live:
            _listed.clear()
            st.rerun()  # the whole page: it lists the models now, or says why not
        st.progress(
            bg.steps_done / bg.steps,
            text=plain(f"Starting the local models: {bg.step} ({bg.elapsed_s():.0f} s)"),
        )
        st.caption("They stop when this app stops.")

    poll()


def survey_offer(db: str, who: str) -> None:
    """Where `who` (model$language) has no survey: a button that runs one in the background
    and its progress, or the command to run where this app cannot tell where the model is."""
    model, language = ids.parse_identity(who)
    job = next((j for j in jobs.survey_jobs(db) if who in j.identities), None)
    if job is not None and job.live:
        survey_progress(job)
        return
    st.info(
        f"No survey of {plain(who)} yet: the survey asks it the portrait items on a 6-point "
        "scale and scores its 19 Schwartz values."
    )
    if job is not None and job.error:
        st.error(plain(f"The survey of {who} failed: {job.error}"))
    try:
        target = jobs.survey_target(model, db, policy())
        cfg = SurveyConfig(model, languages=(language,), api_base=target[1]) if target else None
    except UserError:
        cfg = None  # a name litellm cannot take, or a language the catalog does not know
    if cfg is None:
        survey_command(model, language)
        return
    if cfg.api_base == local_server.default_api_base() and not is_served(model, cfg.api_base):
        st.caption(plain(f"{model} runs on the local model server, which is not up:"))
        local_server_panel(cfg.api_base, key="survey_local")
        return
    at = plain(redact_url(cfg.api_base)) if cfg.api_base else "its provider's endpoint"
    if st.button(
        f"Survey {plain(who)}",
        key=f"survey_start_{who}",
        help="Runs `python -m univar survey` in the background of this app. Requests go to "
        "the endpoint shown, with the key this server has for it; they are cached, so a "
        "second survey asks only what is missing.",
    ):
        with shown_errors("starting the survey") as outcome, st.spinner("Checking the model ..."):
            jobs.start_survey(cfg, db, owner=session_owner(), policy=policy())
        if not outcome.failed:
            st.rerun()
    st.caption(
        f"One request per item, at {at}"
        + ("" if language == "eng" else ", after translating the items and the scale")
        + "."
    )


def is_served(model: str, api_base: str) -> bool:
    return model.removeprefix("openai/") in local_models(api_base)


def survey_command(model: str, language: str) -> None:
    # a code block shows the names as they are; quoted, a name pasted into a shell stays a name
    st.code(
        f"python -m univar survey --model {shlex.quote(model)} --languages {shlex.quote(language)}",
        language="bash",
    )


def survey_progress(job: jobs.SurveyJob) -> None:
    @st.fragment(run_every=1)
    def poll():
        if not job.live:
            st.rerun()  # the whole page: the profile reads the stored scores
        t = job.totals()
        st.progress(
            t.done / max(t.total, 1),
            text=plain(
                f"Surveying {', '.join(job.identities)}: {t.done} of {t.total} items · "
                f"{t.cached} from cache · {t.failed} without an answer · "
                f"{job.elapsed_s():.0f} s"
            ),
        )

    poll()
