"""Which local model translates better into English: round trips of our own bank questions.

For each translator (SmolLM2-135M and Gemma-3-270M, each on its own llama.cpp server), N bank
questions go English -> X -> English for each language, through univar's own translation
requests (the prompt the demo uses, cached in --db). Per translator and language it reports:
the share of X texts the language identifier reads as X, the share of round trips it reads as
English, the chrF of the round trip against the original (character 1..6-grams, beta 2, our
own implementation), and seconds per request.

    python bench/bench_translators.py --questions 10 --languages fra,deu,spa,zho,ind
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _ngrams(text: str, n: int) -> Counter:
    text = " ".join(text.split())
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def chrf(hypothesis: str, reference: str, max_n: int = 6, beta: float = 2.0) -> float:
    """Character n-gram F-score (0..100): precision and recall averaged over n = 1..max_n."""
    precisions, recalls = [], []
    for n in range(1, max_n + 1):
        hyp, ref = _ngrams(hypothesis, n), _ngrams(reference, n)
        if not hyp or not ref:
            continue
        common = sum((hyp & ref).values())
        precisions.append(common / sum(hyp.values()))
        recalls.append(common / sum(ref.values()))
    if not precisions:
        return 0.0
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if p + r == 0:
        return 0.0
    return 100 * (1 + beta**2) * p * r / (beta**2 * p + r)


def run_bench(n_questions: int, languages: list[str], db: str, threads: int) -> dict:
    from univar.catalog.questions import select_questions
    from univar.elicit.translation import translate_texts
    from univar.llm import local_server
    from univar.quality.language import detect

    texts = [q.question for q in select_questions(db, n_questions)][:n_questions]
    names = ("smollm2", "gemma3")
    servers = {
        n: local_server.start([n], port=8045 + i, n_threads=threads) for i, n in enumerate(names)
    }
    out: dict = {"questions": len(texts), "languages": languages, "translators": {}}
    try:
        for name, server in servers.items():
            model, base = f"openai/{name}", server.api_base(name)
            per_lang = {}
            for lang in languages:
                started = time.monotonic()
                there = translate_texts(texts, "eng", lang, model=model, api_base=base, db=db)
                back = translate_texts(there, lang, "eng", model=model, api_base=base, db=db)
                seconds = time.monotonic() - started
                per_lang[lang] = {
                    "target_language_ok": sum(detect(t)[0] == lang for t in there) / len(texts),
                    "back_english_ok": sum(detect(t)[0] == "eng" for t in back) / len(texts),
                    "chrf": sum(chrf(b, t) for b, t in zip(back, texts, strict=True)) / len(texts),
                    "s_per_request": seconds / (2 * len(texts)),
                }
            mean = {
                k: sum(v[k] for v in per_lang.values()) / len(per_lang)
                for k in next(iter(per_lang.values()))
            }
            out["translators"][model] = {"mean": mean, "per_language": per_lang}
    finally:
        for server in servers.values():
            server.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=10)
    ap.add_argument("--languages", default="fra,deu,spa,zho,ind")
    ap.add_argument("--db", default=str(ROOT / ".cache" / "bench-translators.duckdb"))
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per server")
    args = ap.parse_args()
    result = run_bench(args.questions, args.languages.split(","), args.db, args.threads)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
