"""Build the demo dataset with the project's own pipeline, from the two local LLMs.

    python scripts/build_demo.py --questions 200 --db .cache/demo-build.duckdb

Starts one llama.cpp server per model (so both answer in parallel), elicits every question in
every language through `python -m univar elicit` (SmolLM2 translates for both: it translates
better into English than Gemma-3-270M, a base model that mostly repeats the prompt, and is
faster: bench/bench_translators.py; a second SmolLM2 server translates Gemma's answers), then
in English asks each model the project's 57 portrait items as open questions and takes the
portrait survey (so the map's instrument ring and value profiles have data), then the control
questions in every language (issue 15's control experiment), and leaves it all in --db.
Quality checks run as answers arrive. The run is resumable: rerun with a larger --questions and
only the new requests are sent. `python -m univar demo export` then writes data/demo/ from that
database.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time

from univar.llm import local_server

LANGUAGES = "eng,fra,deu,spa,zho,ind"
PORTRAITS = "univar-portraits"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=".cache/demo-build.duckdb")
    ap.add_argument("--questions", default="200")
    ap.add_argument("--languages", default=LANGUAGES)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per server")
    ap.add_argument("--port", type=int, default=8030)
    ap.add_argument(
        "--no-controls",
        dest="controls",
        action="store_false",
        help="skip the control questions (framework 'control')",
    )
    ap.add_argument(
        "--control-questions",
        default="control",
        help="which control questions: 'control' (all) or 'control:N' (a category-balanced N)",
    )
    args = ap.parse_args()

    servers = {
        name: local_server.start([name], port=args.port + i, n_threads=args.threads)
        for i, name in enumerate(("smollm2", "gemma3"))
    }
    # SmolLM2 translates for both; a second SmolLM2 server does Gemma's share, so translation
    # does not queue behind SmolLM2's own answers (a llama.cpp server answers one at a time)
    spare = local_server.start(["smollm2"], port=args.port + 2, n_threads=args.threads)
    translators = {"smollm2": servers["smollm2"], "gemma3": spare}

    def elicit(name: str) -> None:
        model = ["--model", f"openai/{name}", "--api-base", servers[name].api_base(name)]
        translator = translators[name].api_base("smollm2")
        univar, db = [sys.executable, "-m", "univar"], ["--db", args.db]
        steps = [(args.languages, args.questions), ("eng", f"instrument:{PORTRAITS}")]
        if args.controls:
            steps.append((args.languages, args.control_questions))
        for step, (languages, picked) in enumerate(steps):
            if step == 2:  # the survey before the controls: the value map's data comes first
                subprocess.run([*univar, "survey", *db, *model, "--languages", "eng"], check=False)
            subprocess.run(
                [
                    *univar,
                    "elicit",
                    *db,
                    *model,
                    "--translator",
                    "openai/smollm2",
                    "--translator-api-base",
                    translator,
                    "--languages",
                    languages,
                    "--questions",
                    picked,
                    "--max-tokens",
                    str(args.max_tokens),
                    "--concurrency",
                    "2",
                    "--dataset",
                    "demo",
                    "--no-progress",
                ],
                check=False,
            )
        if not args.controls:
            subprocess.run([*univar, "survey", *db, *model, "--languages", "eng"], check=False)

    started = time.monotonic()
    try:
        threads = [threading.Thread(target=elicit, args=(n,)) for n in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for server in (*servers.values(), spare):
            server.stop()
    print(f"demo elicitation finished in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
