"""``relayllm demo``: stages 1-6 of the pipeline at toy scale on CPU (spec §6.9).

Warm-up data from SLM self-samples -> warm-up SFT -> teacher filter -> two GRPO steps with the relay rollout
-> evaluation in slm, llm and relay modes on the bundled toy benchmarks -> the random-router comparison.
The toy numbers show that the pipeline runs end to end; they are not results.
"""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console
from rich.table import Table

from relayllm.config import RelayLLMConfig
from relayllm.evaluation import random_router_comparison
from relayllm.pipeline import (
    build_warmup_data,
    evaluate_benchmarks,
    read_records,
    run_filter,
    run_train,
    run_warmup,
    timed,
)
from rlcore.data import load_records
from rlcore.runs import RunDir


def run_demo(config: RelayLLMConfig, root: RunDir, *, console: Console) -> dict:
    """Run the toy pipeline into the run directory ``root``, one sub-directory per stage."""

    def stage(name: str, cfg: RelayLLMConfig = config) -> RunDir:
        return RunDir(root.path / name, package="relayllm", config=cfg)

    times: dict[str, float] = {}
    records = read_records(config)
    with console.status("1/6 warm-up data"), timed(times, "warm-up data"):
        warm = build_warmup_data(config, stage("1-warmup-data"), records)
    with console.status("2/6 warm-up SFT"), timed(times, "warm-up SFT"):
        checkpoint = run_warmup(config, stage("2-warmup"), load_records(warm["path"]))
    with console.status("3/6 teacher filter"), timed(times, "filter"):
        kept = run_filter(config, stage("3-filter"), records)
    trained_config = replace(config, slm=str(checkpoint))
    with console.status("4/6 GRPO with the relay rollout"), timed(times, "GRPO"):
        trained = run_train(trained_config, stage("4-train", trained_config), load_records(kept["path"]))
    eval_config = replace(config, slm=str(trained["output_dir"]))
    summaries = {}
    for mode in ("slm", "llm", "relay"):
        with console.status(f"5/6 eval ({mode})"), timed(times, f"eval {mode}"):
            summaries[mode] = evaluate_benchmarks(
                eval_config, stage(f"5-eval-{mode}", eval_config), mode=mode, progress=False
            )

    by_mode = {mode: {row.name: row for row in rows} for mode, rows in summaries.items()}
    table = Table(title="relayllm demo (toy scale: the pipeline runs; these are not results)")
    for col in ("benchmark", "SLM acc", "LLM acc", "Relay acc", "Relay call %", "calls/item"):
        table.add_column(col, justify="left" if col == "benchmark" else "right")
    rows = []
    for name in by_mode["relay"]:
        slm, llm, relay = by_mode["slm"][name], by_mode["llm"][name], by_mode["relay"][name]
        row = {
            "benchmark": name,
            "slm_acc": 100 * slm.accuracy,
            "llm_acc": 100 * llm.accuracy,
            "relay_acc": 100 * relay.accuracy,
            "relay_call_pct": 100 * relay.call_ratio,
            "calls_per_item": relay.calls_per_item,
        }
        rows.append(row)
        table.add_row(
            name,
            *(f"{row[k]:.1f}" for k in ("slm_acc", "llm_acc", "relay_acc", "relay_call_pct")),
            f"{row['calls_per_item']:.2f}",
        )
    console.print(table)
    average = rows[-1]
    comparison = random_router_comparison(
        average["relay_acc"], average["relay_call_pct"] / 100, average["slm_acc"], average["llm_acc"]
    )
    from relayllm.cli import router_line

    line = router_line(comparison)
    console.print(line)
    console.print("stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))

    summary = {
        "warmup_rows": warm["stats"]["rows"],
        "filter_kept": kept["kept"],
        "grpo_steps": trained["global_step"],
        "slm_acc": average["slm_acc"],
        "llm_acc": average["llm_acc"],
        "relay_acc": average["relay_acc"],
        "relay_call_pct": average["relay_call_pct"],
        "seconds": round(sum(times.values()), 1),
    }
    root.write_json("summary.json", summary)
    lines = [
        "# relayllm demo",
        "",
        "Toy scale: the numbers show that the pipeline runs end to end; they are not results.",
        "",
        "| benchmark | SLM acc | LLM acc | Relay acc | Relay call % | calls/item |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r['benchmark']} | {r['slm_acc']:.1f} | {r['llm_acc']:.1f} | {r['relay_acc']:.1f} | "
            f"{r['relay_call_pct']:.2f} | {r['calls_per_item']:.2f} |"
            for r in rows
        ],
        "",
        line,
        "",
        "| stage | seconds |",
        "|---|---|",
        *[f"| {k} | {v:.1f} |" for k, v in times.items()],
    ]
    root.write_report("\n".join(lines) + "\n")
    return {"run_dir": root.path, "rows": rows, "times": times, "summary": summary}
