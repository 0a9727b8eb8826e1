"""Value map at the paper's scale: layouts of 100,000 and 1,000,000 QA pairs, and their maps.

    python bench/bench_scale.py [--sizes 100000,1000000] [--work DIR] [--full-fit 100000]
                                [--browser] [--stages fill,fit,view,quality,full]

Vectors are synthetic but clustered: 15 models x 25 languages (identities of unequal size,
the largest some 20x the smallest), 200 questions, each QA pair the sum of its language's, its model's and its
question's direction plus noise, on the 384-d unit sphere; they go into the embedding cache
up front (as bench_projection.py does), so the timings are the map's alone. Per size:

- fill: the QA pairs and their vectors (a DuckDB file in the work folder; 1.5 GB of vectors
  at 1,000,000, also kept as a .npy for the quality stage);
- fit: `projection.refit` with the default settings (UMAP fitted on a sample of
  `ProjectionConfig.fit_sample` keeping every model$language, the rest placed by their
  neighbours): seconds reading the vectors, fitting, placing and storing (from its progress
  messages), peak memory;
- view: time to first view (what the server does for the page on a stored layout: the view of
  everything, the layout's extent, the figure and its JSON), then a selection change (one model
  removed), each with the bytes of figure JSON the browser gets and peak memory; up to
  100,000 QA pairs also the figure of every point, as the page sent it before it sampled;
- quality: on a seeded subsample of 20,000 QA pairs, the share of each one's 10 nearest
  neighbours in embedding space (cosine) that are among its 10 nearest on the map (k-NN
  preservation), split by fitted and placed points, and sklearn's trustworthiness (k = 10) on
  5,000 of them; and of each one's 10 nearest, the share of its own language and of its own
  model$language, in embedding space and on the map (what a reader of the map sees: do
  answers of one language, of one model in it, lie together);
- full (the sizes in --full-fit): umap-learn's own fit of every point, `low_memory=True`, with
  its seconds, peak memory and the same quality, for comparison (kept as full-N.npy:
  `--stages full-quality` measures it again without fitting).

`--browser` draws Plotly scattergl maps of 20,000 to 200,000 points in headless Chromium
(software WebGL) and times each: what `mapdata.ViewSettings.max_points` is weighed against.

Each stage's result is written to the work folder as it finishes (`scale-N.json`), so a run
stopped halfway resumes where it stopped (`--redo` measures the stages asked again). Peak
memory is the process's high-water mark since the stage began (/proc/self/status VmHWM, reset
through /proc/self/clear_refs; else getrusage's lifetime maximum, which is then said).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DIM, MODELS, LANGUAGES, QUESTIONS = 384, 15, 25, 200
CHUNK = 100_000  # vectors generated and stored at a time
SUBSAMPLE, TRUST_SUBSAMPLE, K = 20_000, 5_000, 10
UNSAMPLED_UP_TO = 100_000  # also times the figure of every point, as before the sample, up to
STAGES = ("fill", "fit", "view", "quality", "full")
BROWSER_SIZES = (20_000, 40_000, 60_000, 100_000, 200_000)
WORDS = (
    "family duty freedom care honesty tradition respect fairness loyalty security power "
    "achievement pleasure kindness justice humility courage community nature wisdom"
).split()


class StoredOnly:
    """An encoder whose vectors are all cached already; encoding would be a bug here."""

    id = "bench-scale-384"
    dim = DIM

    def encode(self, texts, batch_size=64):
        raise AssertionError("the bench pre-stores every vector")


# --- measuring -------------------------------------------------------------------------------


def reset_peak() -> bool:
    """Start a new high-water mark of this process's memory; False where Linux does not let."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_mb(reset_worked: bool) -> dict:
    status = Path("/proc/self/status").read_text() if Path("/proc/self/status").exists() else ""
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    if reset_worked and found:
        return {"peak_mb": round(int(found.group(1)) / 1024)}
    lifetime = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"peak_mb": round(lifetime), "peak_is_lifetime": True}


def load() -> float:
    return round(os.getloadavg()[0], 1)


class Stage:
    """Times a stage and records its peak memory and the load average before and after."""

    def __enter__(self):
        self.reset = reset_peak()
        self.load_before = load()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started

    def facts(self) -> dict:
        return {
            "seconds": round(self.seconds, 1),
            **peak_mb(self.reset),
            "load": [self.load_before, load()],
        }


# --- data ------------------------------------------------------------------------------------


def _directions(rng, n: int):
    import numpy as np

    d = rng.normal(size=(n, DIM))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def identities_of(n: int, seed: int = 0):
    """(model index, language index, question index) of each of n QA pairs: identities of
    unequal size (the largest about 20 times the smallest), every one present."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = np.outer(1 / (1 + 0.25 * np.arange(MODELS)), 1 / (1 + 0.15 * np.arange(LANGUAGES)))
    weights = weights.ravel() / weights.sum()
    ident = np.concatenate(
        [np.arange(MODELS * LANGUAGES), rng.choice(weights.size, n - weights.size, p=weights)]
    )
    rng.shuffle(ident)
    return ident // LANGUAGES, ident % LANGUAGES, rng.integers(0, QUESTIONS, size=n)


def vectors_of(model, language, question, start: int, seed: int = 0):
    """Unit vectors of QA pairs start.. (noise seeded by the chunk, so any chunk regenerates)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lang_d, model_d, question_d = (_directions(rng, n) for n in (LANGUAGES, MODELS, QUESTIONS))
    noise = np.random.default_rng([seed, start]).normal(scale=0.06, size=(len(model), DIM))
    v = lang_d[language] + 0.5 * model_d[model] + 0.7 * question_d[question] + noise
    v = v.astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def fill(db: Path, work: Path, n: int) -> dict:
    """n QA pairs with their vectors in the cache (and in vectors-n.npy, in qa_id order)."""
    import numpy as np
    import pandas as pd

    from univar import encoders, store
    from univar.catalog.registry import LANGUAGES as LANGS
    from univar.encoders import cache

    model, language, question = identities_of(n)
    codes = [lang.code for lang in LANGS][:LANGUAGES]
    words = np.asarray(WORDS, dtype=object)
    rng = np.random.default_rng(1)
    picks = words[rng.integers(0, len(WORDS), size=(n, 24))]
    answers = [f"Answer #{i}: " + " ".join(row) + "." for i, row in enumerate(picks.tolist())]
    rows = pd.DataFrame(
        {
            "qa_id": [f"qa{i:07d}" for i in range(n)],
            "dataset": "bench",
            "model": [f"bench/model-{m:02d}" for m in model],
            "language": [codes[lang] for lang in language],
            "question": [
                f"Question {q}: what matters most to you about {WORDS[q % 20]}?" for q in question
            ],
            "answer": answers,
        }
    )
    del answers, picks
    with store.transaction(db) as con:
        con.register("rows", rows)
        con.execute(
            "INSERT INTO qa_pairs (qa_id, dataset, model, language, question, answer) "
            "SELECT * FROM rows"
        )
    del rows
    texts = encoders.qa_frame(db)["text"].tolist()  # in qa_id order, as embedded
    hashes = [encoders.text_hash(t) for t in texts]
    del texts
    kept = np.lib.format.open_memmap(
        work / f"vectors-{n}.npy", mode="w+", dtype=np.float32, shape=(n, DIM)
    )
    for start in range(0, n, CHUNK):
        end = min(start + CHUNK, n)
        vecs = vectors_of(model[start:end], language[start:end], question[start:end], start)
        kept[start:end] = vecs
        cache._save(db, StoredOnly.id, hashes[start:end], vecs)
    kept.flush()
    with store.connect(db) as con:
        stored = con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0]
    assert stored == n, f"{stored} vectors stored for {n} QA pairs (a repeated text?)"
    return {"qa_pairs": n, "db_mb": round(db.stat().st_size / 2**20)}


# --- stages ----------------------------------------------------------------------------------


def fit(db: Path, config) -> dict:
    """`projection.refit` as Re-layout runs it, with the time of each part."""
    from univar import store
    from univar.analysis import projection

    marks: dict[str, float] = {}
    started = time.perf_counter()

    def progress(done: float, total: float, message: str = "") -> None:
        for key, prefix in (("fit", "Fitting"), ("place", "Placing"), ("project", "Projecting")):
            if message.startswith(prefix):
                marks.setdefault(key, time.perf_counter() - started)

    layout = projection.refit(db, StoredOnly(), config, progress=progress)
    total = time.perf_counter() - started
    fit_start = marks.get("fit", marks["project"])
    place_start = marks.get("place", total)
    with store.connect(db) as con:
        seconds = con.execute(
            "SELECT seconds FROM projections WHERE proj_key = ?", [layout.proj_key]
        ).fetchall()[0][0]
    return {
        "fit_sample": config.fit_sample,
        "n_sample": layout.n_sample,
        "read_vectors_s": round(marks["project"], 1),
        "umap_fit_s": round(place_start - fit_start, 1),
        "place_s": round(fit_start + seconds - place_start, 1),
        "fit_and_place_s": round(seconds, 1),
        "store_s": round(total - fit_start - seconds, 1),
        "refit_total_s": round(total, 1),
    }


def _figure_of(db: Path, selection, extent, config, settings) -> dict:
    """One view as the page builds it on a stored layout, timed by part."""
    import plotly.io as pio

    from univar.analysis import mapdata
    from univar.figures import value_map

    t = time.perf_counter()
    view = mapdata.stored_view(db, StoredOnly.id, selection, config, view=settings)
    read = time.perf_counter() - t
    t = time.perf_counter()
    fig = value_map.value_map_figure(
        view.points, "language", extent=extent, total=view.total, centroids=view.centroids
    )
    build = time.perf_counter() - t
    t = time.perf_counter()
    spec = pio.to_json(fig, validate=False)
    to_json = time.perf_counter() - t
    return {
        "qa_pairs": view.total,
        "points_sent": len(view.points),
        "read_s": round(read, 2),
        "figure_s": round(build, 2),
        "json_s": round(to_json, 2),
        "json_mb": round(len(spec.encode()) / 1e6, 2),
        "identities_shown": int(view.points["identity"].nunique()),
    }


def view(db: Path, config, settings, unsampled_up_to: int = UNSAMPLED_UP_TO) -> dict:
    from univar.analysis import mapdata

    out = {}
    with Stage() as first:
        t = time.perf_counter()
        extent = mapdata.layout_extent(db, StoredOnly.id, config)
        extent_s = time.perf_counter() - t
        out["first_view"] = _figure_of(db, mapdata.Selection(), extent, config, settings)
    out["first_view"] |= {"extent_s": round(extent_s, 2), **first.facts()}
    models = mapdata.options(db).models
    fewer = mapdata.Selection(models=tuple(models[1:]))
    with Stage() as change:
        out["remove_one_model"] = _figure_of(db, fewer, extent, config, settings)
    out["remove_one_model"] |= {"dropped": models[0], **change.facts()}
    n = out["first_view"]["qa_pairs"]
    if settings.max_points < n <= unsampled_up_to:  # what the browser would get without a sample
        every = mapdata.ViewSettings(max_points=n)
        with Stage() as unsampled:
            out["unsampled"] = _figure_of(db, mapdata.Selection(), extent, config, every)
        out["unsampled"] |= unsampled.facts()
    return out


def _knn(points, k: int, cosine: bool):
    """Each row's k nearest other rows (exact, a block of rows at a time)."""
    import numpy as np

    points = np.asarray(points, dtype=np.float32 if cosine else np.float64)
    if cosine:
        points = points / np.linalg.norm(points, axis=1, keepdims=True)
    else:
        squared = (points * points).sum(1)
    out = np.empty((len(points), k), dtype=np.int64)
    for start in range(0, len(points), 1000):
        block = points[start : start + 1000]
        if cosine:
            score = block @ points.T
        else:
            score = 2 * block @ points.T - squared[None, :]  # larger is nearer
        score[np.arange(len(block)), np.arange(start, start + len(block))] = -np.inf
        out[start : start + len(block)] = np.argpartition(score, -k, axis=1)[:, -k:]
    return out


def layout_quality(vectors, coords, groups: dict, fitted=None) -> dict:
    """k-NN preservation on the subsample (overall, and by fitted and placed points), how
    many of a point's 10 nearest share its language and its model$language (`groups`: name ->
    each row's group) in embedding space and on the map, and trustworthiness on the first
    TRUST_SUBSAMPLE rows."""
    import numpy as np
    from sklearn.manifold import trustworthiness

    high, low = _knn(vectors, K, cosine=True), _knn(coords, K, cosine=False)
    shared = np.array([len(np.intersect1d(a, b)) / K for a, b in zip(high, low, strict=True)])
    out = {"knn_preservation": round(float(shared.mean()), 3)}
    for name, group in groups.items():
        for space, near in (("embedding", high), ("map", low)):
            same = (group[near] == group[:, None]).mean()
            out[f"same_{name}_of_10nn_{space}"] = round(float(same), 3)
    if fitted is not None and (~fitted).any() and fitted.any():
        out["knn_preservation_fitted"] = round(float(shared[fitted].mean()), 3)
        out["knn_preservation_placed"] = round(float(shared[~fitted].mean()), 3)
    m = min(TRUST_SUBSAMPLE, len(vectors))
    out["trustworthiness"] = round(
        float(trustworthiness(vectors[:m], coords[:m], n_neighbors=K, metric="cosine")), 3
    )
    return out


def _subsample(n: int):
    """(rows of the quality subsample, their language and model$language groups)."""
    import numpy as np

    rows = np.sort(np.random.default_rng(7).choice(n, size=min(SUBSAMPLE, n), replace=False))
    model, language, _ = identities_of(n)
    groups = {"language": language[rows], "identity": model[rows] * LANGUAGES + language[rows]}
    return rows, groups


def quality(db: Path, work: Path, n: int, config) -> dict:
    import numpy as np

    from univar import store
    from univar.analysis import projection

    rows, groups = _subsample(n)
    vectors = np.load(work / f"vectors-{n}.npy", mmap_mode="r")[rows]
    layout = projection.current(db, StoredOnly.id, config)
    with store.connect(db) as con:  # qa ids are qa0000000.. : their order is the vectors'
        points = con.execute(
            "SELECT x, y, placed IS NULL AS fitted FROM projection_points "
            "WHERE proj_key = ? ORDER BY qa_id",
            [layout.proj_key],
        ).df()
    coords = points[["x", "y"]].to_numpy()[rows]
    fitted = points["fitted"].to_numpy()[rows]
    return {"subsample": len(rows), **layout_quality(vectors, coords, groups, fitted)}


def full_fit(work: Path, n: int, config) -> dict:
    """umap-learn's fit of every point, low_memory=True, the app's other settings."""
    import numpy as np
    import umap

    vectors = np.load(work / f"vectors-{n}.npy")
    with Stage() as stage:
        coords = umap.UMAP(
            n_components=2,
            n_neighbors=config.n_neighbors,
            min_dist=config.min_dist,
            metric=config.metric,
            random_state=config.seed,
            n_jobs=1,
            low_memory=True,
        ).fit_transform(vectors)
    coords = np.asarray(coords, dtype=np.float64)
    np.save(work / f"full-{n}.npy", coords)  # for a quality stage run again
    return {"umap_full_fit_s": round(stage.seconds, 1), **stage.facts(), **full_quality(work, n)}


def full_quality(work: Path, n: int) -> dict:
    """The quality stage's measures of the full fit kept in full-n.npy."""
    import numpy as np

    rows, groups = _subsample(n)
    vectors = np.load(work / f"vectors-{n}.npy", mmap_mode="r")[rows]
    coords = np.load(work / f"full-{n}.npy")[rows]
    return {"subsample": len(rows), **layout_quality(vectors, coords, groups)}


# --- the browser -----------------------------------------------------------------------------


def browser_points(n: int):
    """A map's frame of n points, 375 identities, texts as long as a real answer's."""
    import numpy as np
    import pandas as pd

    from univar.catalog.registry import LANGUAGES as LANGS

    model, language, question = identities_of(n)
    rng = np.random.default_rng(1)
    text = "Some answer text that goes on about values, duty and care. " * 5
    return pd.DataFrame(
        {
            "qa_id": [f"qa{i:07d}" for i in range(n)],
            "x": rng.normal(size=n) + language,
            "y": rng.normal(size=n) + model,
            "model": [f"bench/model-{m:02d}" for m in model],
            "language": [LANGS[lang].code for lang in language],
            "dataset": "bench",
            "value": "benevolence",
            "framework": "schwartz",
            "question": [f"Question {q} about duty?" for q in question],
            "answer": text,
            "question_en": None,
            "answer_en": None,
        }
    )


DRAW = """async (spec) => {
  const div = document.getElementById('map');
  const started = performance.now();
  const fig = JSON.parse(spec);
  await Plotly.newPlot(div, fig.data, fig.layout, {responsive: false});
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const drawn = performance.now() - started;
  const x = div.layout.xaxis.range, y = div.layout.yaxis.range;
  const zoomed = performance.now();
  await Plotly.relayout(div, {'xaxis.range': [x[0] / 2, x[1] / 2], 'yaxis.range': [y[0] / 2, y[1] / 2]});
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const zoom = performance.now() - zoomed;
  Plotly.purge(div);
  return [drawn, zoom];
}"""


def browser(sizes=BROWSER_SIZES) -> dict:
    """Seconds headless Chromium takes to parse and draw the map's figure, and to redraw it
    zoomed in, at each size (software WebGL: a real GPU draws faster, JSON parses the same)."""
    import plotly
    import plotly.io as pio
    from playwright.sync_api import sync_playwright

    from univar.figures import value_map

    script = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    args = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
    out = {}
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=args)
        page = chromium.new_page(viewport={"width": 1400, "height": 900})
        page.set_content("<div id='map' style='width:1200px;height:720px'></div>")
        page.add_script_tag(path=str(script))
        webgl = page.evaluate("() => !!document.createElement('canvas').getContext('webgl')")
        for n in sizes:
            spec = pio.to_json(value_map.value_map_figure(browser_points(n)), validate=False)
            times = [page.evaluate(DRAW, spec) for _ in range(2)]
            best = min(times)
            out[str(n)] = {
                "draw_s": round(best[0] / 1000, 2),
                "zoom_redraw_s": round(best[1] / 1000, 2),
                "json_mb": round(len(spec) / 1e6, 1),
            }
        chromium.close()
    return {"webgl": webgl, "sizes": out}


# --- the run ---------------------------------------------------------------------------------


def run_size(
    n: int, work: Path, stages, full: bool, redo: bool, config, settings, unsampled_up_to
) -> dict:
    state_file = work / f"scale-{n}.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    db = work / f"scale-{n}.duckdb"

    def save() -> None:
        state_file.write_text(json.dumps(state, indent=2))

    for stage in stages:
        if (stage in state and not redo) or (stage.startswith("full") and not full):
            continue
        if stage != "fill" and "fill" not in state:
            raise RuntimeError(f"{n:,}: stage {stage} needs fill first")
        print(f"{n:,}: {stage} ...", file=sys.stderr, flush=True)
        if stage == "full-quality":  # the kept full fit measured again, not fitted again
            state["full"] = {**state["full"], **full_quality(work, n)}
        elif stage in ("view", "full"):  # these time their own parts
            state[stage] = (
                view(db, config, settings, unsampled_up_to)
                if stage == "view"
                else full_fit(work, n, config)
            )
        else:
            with Stage() as measured:
                if stage == "fill":
                    db.unlink(missing_ok=True)
                    result = fill(db, work, n)
                elif stage == "fit":
                    result = fit(db, config)
                else:
                    result = quality(db, work, n, config)
            state[stage] = {**result, **measured.facts()}
        save()
    return state


def run_bench(
    sizes=(100_000, 1_000_000),
    full_fit_sizes=(100_000,),
    work: str | None = None,
    stages=STAGES,
    with_browser: bool = False,
    redo: bool = False,
    fit_sample: int | None = None,
    max_points: int | None = None,
    unsampled_up_to: int = UNSAMPLED_UP_TO,
) -> dict:
    """Every stage of every size; a `work` folder given keeps its results (resumable) and its
    databases, else a temporary one is removed at the end. `fit_sample`, `max_points`: other
    than the app's defaults (a quick check of the bench itself)."""
    from univar.analysis.mapdata import ViewSettings
    from univar.analysis.projection import ProjectionConfig
    from univar.paths import layout_dir

    config = ProjectionConfig(**({"fit_sample": fit_sample} if fit_sample else {}))
    settings = ViewSettings(**({"max_points": max_points} if max_points else {}))

    folder = Path(work) if work else Path(tempfile.mkdtemp(prefix="univar-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("UNIVAR_LAYOUT_DIR", str(folder / "layouts"))
    layout_dir()  # where a PCA reducer would go; UMAP keeps none
    try:
        results = {
            str(n): run_size(
                n, folder, stages, n in full_fit_sizes, redo, config, settings, unsampled_up_to
            )
            for n in sizes
        }
        if with_browser:
            results["browser"] = browser()
    finally:
        if not work:
            shutil.rmtree(folder, ignore_errors=True)
    machine = {"cpus": os.cpu_count(), "load_after": load()}
    return {
        "machine": machine,
        "fit_sample": config.fit_sample,
        "max_points": settings.max_points,
        **results,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--full-fit", default="100000", help="sizes also fitted in full")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "univar-scale"))
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--browser", action="store_true", help="time Plotly in Chromium too")
    parser.add_argument("--redo", action="store_true", help="measure the stages asked again")
    parser.add_argument("--fit-sample", type=int, help="other than the app's (a quick check)")
    parser.add_argument("--max-points", type=int, help="other than the app's (a quick check)")
    parser.add_argument(
        "--unsampled-up-to",
        type=int,
        default=UNSAMPLED_UP_TO,
        help="sizes up to this also time the figure of every point (default: %(default)s)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    full = [int(s) for s in args.full_fit.split(",") if s]
    stages = [s for s in args.stages.split(",") if s]
    unknown = set(stages) - {*STAGES, "full-quality"}
    if unknown:
        parser.error(f"unknown stages {', '.join(sorted(unknown))}; choose from {STAGES}")
    result = run_bench(
        sizes,
        full,
        args.work,
        stages,
        args.browser,
        args.redo,
        args.fit_sample,
        args.max_points,
        args.unsampled_up_to,
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
