"""All of UniVaR Studio's speed figures in one run: a table of ratios, also saved as JSON.

    python bench/run.py            # full sizes (tens of minutes on 2 shared cores)
    python bench/run.py --quick    # smaller sizes, same measures
    python bench/run.py --only elicit,import

Each part runs in its own process (bench_*.py's `run_bench`), so one that is missing, fails or
hangs prints "n/a: reason" and the others still report. Ratios compare timings taken in the
same run on the same machine; absolute seconds on a shared machine are noise. The JSON lands in
bench/results/ (git-ignored) with the machine it was measured on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"

# part -> (module, run_bench keyword arguments: full, quick)
PARTS = {
    # the elicitation goal is defined on 64 questions, which take seconds even at concurrency 1
    "elicit": ("bench_elicit", {"n_questions": 64}, {"n_questions": 64}),
    "embed": ("bench_embed", {"n": 3000, "repeats": 2}, {"n": 400, "repeats": 2}),
    "projection": (
        "bench_projection",
        {"n": 2000, "figure_points": 100_000},
        {"n": 500, "figure_points": 20_000},
    ),
    # 1,000,000 QA pairs take about an hour on 2 cores: alone, `bench_scale.py --work DIR`
    # resumes a run stopped halfway
    "scale": (
        "bench_scale",
        {"sizes": [100_000, 1_000_000], "full_fit_sizes": [100_000]},
        {"sizes": [100_000], "full_fit_sizes": []},
    ),
    "startup": ("bench_startup", {"rows": 300}, {"rows": 100}),
    "selection": ("bench_selection", {"repeats": 5}, {"repeats": 3}),
    "import": ("bench_import", {"rows": 20_000, "repeats": 2}, {"rows": 5000, "repeats": 1}),
    "validate": ("bench_validate", {"megabytes": 190}, {"megabytes": 40}),
    # the goal is defined on 12 identities x 200 questions: the quick run measures the same
    "distances": (
        "bench_distances",
        {"identities": 12, "questions": 200},
        {"identities": 12, "questions": 200},
    ),
}
_CHILD = """
import json, sys
sys.path[:0] = [{bench!r}, {root!r}]
from {module} import run_bench
print("\\n@@result " + json.dumps(run_bench(**{kwargs!r})), flush=True)
"""


def run_part(name: str, quick: bool, timeout: float) -> dict:
    """The part's result dict, or {'error': reason}."""
    module, full, small = PARTS[name]
    if not (BENCH / f"{module}.py").exists():
        return {"error": f"bench/{module}.py is missing"}
    code = _CHILD.format(
        bench=str(BENCH), root=str(BENCH.parent), module=module, kwargs=small if quick else full
    )
    env = os.environ | {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=BENCH.parent,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("@@result "):
            result = json.loads(line.removeprefix("@@result "))
            return result | {"part_wall_s": round(time.perf_counter() - started, 1)}
    tail = (proc.stderr or proc.stdout).strip().splitlines()
    return {"error": tail[-1][:200] if tail else f"exit code {proc.returncode}"}


def _x(value: float) -> str:
    return f"{value:,.1f}x" if value < 100 else f"{value:,.0f}x"


def rows_of(name: str, r: dict) -> list[tuple[str, str, str, str]]:
    """(measure, figure, goal, detail) rows for one part's result."""
    if name == "elicit":
        levels = [k.removeprefix("seconds_c") for k in r if k.startswith("seconds_c")]
        c = max(int(level) for level in levels if level.isdigit())
        first, again = r[f"seconds_c{c}"], r["seconds_cached_rerun"]
        return [
            (
                f"elicitation, concurrency {c} vs 1",
                f"{_x(r['speedup'])} faster",
                ">= 8x",
                f"{r['questions']} questions, {r['latency_s'] * 1000:.0f} ms server: "
                f"{r['seconds_c1']} s vs {first} s",
            ),
            (
                "cached rerun vs first run",
                f"{_x(first / max(again, 1e-9))} faster",
                "0 requests",
                f"{r['cached_rerun_requests']} requests sent; {again} s",
            ),
        ]
    if name == "embed":
        return [
            (
                "univar embed vs plain encode",
                f"{r['first_vs_plain']:.2f}x the time",
                "<= 1.2x",
                f"{r['n_texts']} texts: {r['univar_first_s']} s vs {r['plain_s']} s",
            ),
            (
                "cached re-embed vs plain encode",
                f"{_x(r['cached_speedup'])} faster",
                ">= 20x",
                f"{r['univar_cached_s']} s",
            ),
        ]
    if name == "projection":
        out = [
            (
                "UMAP cached vs cold",
                f"{_x(r['speedup'])} faster",
                "no recompute",
                f"{r['points']} points: {r['umap_cold_s']} s vs {r['umap_cached_s']} s",
            )
        ]
        if "selection_s" in r:
            out.append(
                (
                    "half the points, from the layout",
                    f"{r['selection_s']} s",
                    "no refit",
                    f"{r['points'] // 2} of {r['points']} points, read from the one layout",
                )
            )
        if "figure_points" in r:
            out.append(
                (
                    f"map figure, {r['figure_points']:,} points",
                    f"{r['figure_build_s']} s",
                    "responsive",
                    f"+{r['figure_json_s']} s to JSON "
                    f"({r['figure_json_mb']} MB), WebGL {r['webgl']}",
                )
            )
        return out
    if name == "scale":
        return [row for size, part in r.items() if size.isdigit() for row in _scale_rows(part)]
    if name == "startup":
        warm, cold = r["warm"], r["cold"]
        return [
            (
                "streamlit run -> first map (warm)",
                f"{warm['total_s']} s",
                f"<= {r['goal_warm_map_after_up_s']:g} s after up",
                f"up {warm['server_up_s']} s + map {warm['map_after_up_s']} s; {r['data']}",
            ),
            (
                "streamlit run -> first map (cold)",
                f"{cold['total_s']} s",
                "-",
                f"up {cold['server_up_s']} s + embed, project, map {cold['map_after_up_s']} s",
            ),
        ]
    if name == "selection":
        goals, times = r["goals_s"], r["all_s"]
        return [
            (
                f"value map: {label}",
                f"{r[part]} s",
                f"<= {goals[part]:g} s" if part in goals else "-",
                f"{r['data']}; each: {', '.join(map(str, times[part]))} s",
            )
            for part, label in (
                ("first_map_s", "first map after the server is up (browser cache warm)"),
                ("first_map_new_browser_s", "first map, a browser new to the app"),
                ("reload_s", "page reload"),
                ("remove_model_s", "remove a model (no refit)"),
                ("add_model_s", "add it back"),
            )
        ]
    if name == "import":
        return [
            (
                "CSV import",
                f"{r['total_rows_per_s']:,} rows/s",
                "-",
                f"{r['rows']:,} rows ({r['megabytes']} MB): validate "
                f"{r['validate_rows_per_s']:,}/s, write {r['write_rows_per_s']:,}/s",
            )
        ]
    if name == "validate":
        size = f"{r['megabytes']} MB CSV, {r['rows']:,} rows"
        return [
            (
                f"peak memory, {label}",
                f"{r[part]['max_rss_mb']:,} MB",
                "well under 1 GB" if part != "import" else "-",
                f"{size}: {r[part]['seconds']} s",
            )
            for part, label in (
                ("page", "Upload page check"),
                ("check", "import --check"),
                ("import", "import"),
            )
        ]
    if name == "distances":
        return [
            (
                f"distance table ({metric}), cold",
                f"{r[metric]['cold_s']} s",
                f"< {r['goal_s']:g} s",
                f"{r['data']}; cached {r[metric]['cached_s']} s; "
                f"{r[metric]['pairs_distinguishable']}/{r[metric]['pairs']} pairs differ at 5%",
            )
            for metric in ("cosine", "energy", "mmd")
        ]
    return []


def _scale_rows(r: dict) -> list[tuple[str, str, str, str]]:
    """Rows of one size of bench_scale: its layout, first view, selection change, quality."""
    n, fit = r["fill"]["qa_pairs"], r["fit"]
    first, change = r["view"]["first_view"], r["view"]["remove_one_model"]

    def seconds(v: dict) -> float:
        return round(v["read_s"] + v["figure_s"] + v["json_s"] + v.get("extent_s", 0), 1)

    rows = [
        (
            f"layout of {n:,} QA pairs",
            f"{fit['refit_total_s']} s",
            "-",
            f"UMAP on a sample of {fit['n_sample'] or n:,}: {fit['umap_fit_s']} s, placing the "
            f"rest {fit['place_s']} s, reading vectors {fit['read_vectors_s']} s; "
            f"peak {fit['peak_mb']:,} MB",
        ),
        (
            f"first view, {n:,} QA pairs",
            f"{seconds(first)} s",
            "-",
            f"{first['points_sent']:,} points sent, {first['json_mb']} MB of JSON; "
            f"peak {first['peak_mb']:,} MB",
        ),
        (
            f"remove a model, {n:,} QA pairs",
            f"{seconds(change)} s",
            "-",
            f"{change['points_sent']:,} points sent, {change['json_mb']} MB of JSON",
        ),
    ]
    if "quality" in r:
        q = r["quality"]
        rows.append(
            (
                f"10-NN kept on the map, {n:,}",
                f"{q['knn_preservation']:.3f}",
                "-",
                f"trustworthiness {q['trustworthiness']:.3f}; {q['subsample']:,} QA pairs",
            )
        )
    if "full" in r:
        full = r["full"]
        rows.append(
            (
                f"full UMAP fit of {n:,} (low_memory)",
                f"{full['umap_full_fit_s']} s",
                "-",
                f"10-NN kept {full['knn_preservation']:.3f}, trustworthiness "
                f"{full['trustworthiness']:.3f}; peak {full['peak_mb']:,} MB",
            )
        )
    return rows


def machine() -> dict:
    info = {
        "cpus": os.cpu_count(),
        "load_1m": round(os.getloadavg()[0], 1),
        "system": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
    }
    try:
        cpu = Path("/proc/cpuinfo").read_text().split("model name")[1].split(":")[1]
        info["cpu"] = cpu.splitlines()[0].strip()
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        info["memory_gb"] = round(mem_kb / 2**20, 1)
    except (OSError, IndexError, ValueError):
        pass
    return info


def table(rows: list[tuple[str, str, str, str]]) -> str:
    head = ("measure", "figure", "goal", "detail")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3]
        for r in [head, *rows]
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--only", help=f"comma-separated parts of: {', '.join(PARTS)}")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per part")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(PARTS)
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")

    info = machine() | {"quick": args.quick, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    results, rows = {}, []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = r = run_part(name, args.quick, args.timeout)
        try:
            part_rows = [] if "error" in r else rows_of(name, r)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            r["error"] = f"unexpected result ({type(exc).__name__}: {exc})"
        rows += [(name, f"n/a: {r['error']}", "", "")] if "error" in r else part_rows
    info["load_1m_after"] = round(os.getloadavg()[0], 1)
    print(
        f"\nUniVaR Studio benchmarks{' (quick)' if args.quick else ''}: {info.get('cpus')} CPUs "
        f"({info.get('cpu', '?')}), load {info['load_1m']} -> {info['load_1m_after']}, "
        f"{info['system']}, Python {info['python']}\n"
    )
    print(table(rows))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps({"machine": info, "table": rows, "results": results}, indent=2))
    print(f"\nsaved {out.relative_to(BENCH.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
