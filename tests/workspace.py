"""Workspace helper behind `just demo` and `just test <pkg>`: finds the members and runs their demos.

python tests/workspace.py demo [pkg]   run rlcore's and every package's `demo` (or one), then a summary table
python tests/workspace.py path <pkg>   print the folder of a member (for `just test <pkg>`)
python tests/workspace.py members      list the members: distribution, folder, console script
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Member:
    name: str
    path: Path
    script: str | None


def members() -> list[Member]:
    """rlcore first, then the paper packages in folder order."""
    found = []
    for pyproject in [
        *sorted(ROOT.glob("shared/*/pyproject.toml")),
        *sorted(ROOT.glob("packages/*/pyproject.toml")),
    ]:
        project = tomllib.loads(pyproject.read_text())["project"]
        scripts = list(project.get("scripts", {}))
        found.append(Member(project["name"], pyproject.parent, scripts[0] if scripts else None))
    return found


def find(name: str) -> Member:
    for member in members():
        if name in (member.name, member.path.name, member.name.replace("-", "_")):
            return member
    known = ", ".join(m.name for m in members())
    raise SystemExit(f"error: unknown package {name!r} (known: {known})")


def _summary(out: Path) -> str:
    summary = out / "summary.json"
    if not summary.exists():
        return ""
    data = json.loads(summary.read_text())
    parts = [
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in data.items()
        if not isinstance(v, list | dict)
    ]
    return ", ".join(parts)[:120]


def demo(only: str | None) -> int:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    chosen = [find(only)] if only else [m for m in members() if m.script]
    results = []
    for member in chosen:
        out = ROOT / "runs" / "demo" / member.name
        if out.exists():
            import shutil

            shutil.rmtree(out)
        console.rule(f"[bold]{member.name} demo")
        start = time.perf_counter()
        code = subprocess.call([member.script, "demo", "--out", str(out)], cwd=ROOT)
        results.append((member.name, code, time.perf_counter() - start, out))
    table = Table(title="demo summary")
    for col in ("package", "status", "seconds", "results", "run dir"):
        table.add_column(col, overflow="fold")
    for name, code, seconds, out in results:
        status = "[green]ok[/]" if code == 0 else f"[red]failed ({code})[/]"
        table.add_row(name, status, f"{seconds:.1f}", _summary(out), str(out.relative_to(ROOT)))
    console.print(table)
    return 0 if all(code == 0 for _, code, _, _ in results) else 1


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "path", "members"):
        print(__doc__)
        return 2
    if argv[0] == "demo":
        return demo(argv[1] if len(argv) > 1 and argv[1] else None)
    if argv[0] == "path":
        print(find(argv[1]).path.relative_to(ROOT))
        return 0
    for member in members():
        print(member.name, member.path.relative_to(ROOT), member.script or "-")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
