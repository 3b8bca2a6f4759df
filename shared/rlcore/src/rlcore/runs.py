"""One directory per run: config snapshot, metrics, samples, checkpoints and a report.

Layout::

    <run dir>/
      config.yaml       the resolved config (written once; a rerun with another config is refused)
      metrics.jsonl     one JSON object per logged step
      samples.jsonl     generated samples worth reading
      checkpoints/      step-<n>/ folders
      stages/<name>.done  markers of finished pipeline stages, so a rerun skips them
      report.md         the final report; figures in plots/<name>.png

Every whole-file write is atomic (a temp file in the same folder, then ``os.replace``), so a killed
run never leaves a half-written file behind; JSONL logs are appended one line at a time.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from rlcore.config import config_to_dict
from rlcore.errors import ConfigError

__all__ = ["RunDir", "atomic_write"]


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file and a rename; parents are created. The file gets
    the usual permissions (0666 less the umask), not the owner-only mode of a temp file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def _dumps(row: Any) -> str:
    return json.dumps(row, ensure_ascii=False, default=_json_default)


class RunDir:
    """The run directory of one invocation (see the module docstring for its layout).

    ``path`` is the directory a CLI's ``--out`` names; without it, ``runs/<package>/<name or
    timestamp>/``. Opening an existing directory whose ``config.yaml`` differs from ``config`` is a
    :class:`ConfigError` (two different experiments must not share one folder); use
    :meth:`RunDir.resume` to continue a killed run with the config it was started with.
    """

    def __init__(
        self, path: str | Path | None = None, *, package: str, name: str | None = None, config: Any = None
    ) -> None:
        if path is None:
            name = name or datetime.now().strftime("%Y%m%d-%H%M%S")
            path = Path("runs") / package / name
        self.path = Path(path)
        self.package = package
        self.config = config
        snapshot = self.path / "config.yaml"
        if config is not None:
            text = yaml.safe_dump(config_to_dict(config), sort_keys=False, allow_unicode=True)
            if snapshot.exists():
                if yaml.safe_load(snapshot.read_text(encoding="utf-8")) != yaml.safe_load(text):
                    raise ConfigError(
                        f"{snapshot} holds a different config: choose another --out, or resume that run "
                        "with its own config"
                    )
            else:
                atomic_write(snapshot, text)
        self.path.mkdir(parents=True, exist_ok=True)

    @classmethod
    def resume(cls, path: str | Path, *, package: str | None = None) -> RunDir:
        """Reopen an existing run directory (a killed run continues from its last checkpoint)."""
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"run directory not found: {path}")
        run = cls.__new__(cls)
        run.path = path
        run.package = package or path.parent.name
        snapshot = path / "config.yaml"
        run.config = yaml.safe_load(snapshot.read_text(encoding="utf-8")) if snapshot.exists() else None
        return run

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # -- files ---------------------------------------------------------------------------------
    def file(self, relpath: str | Path) -> Path:
        return self.path / relpath

    def write_text(self, relpath: str | Path, text: str) -> Path:
        return atomic_write(self.path / relpath, text)

    def write_json(self, relpath: str | Path, data: Any) -> Path:
        return atomic_write(
            self.path / relpath, json.dumps(data, ensure_ascii=False, indent=2, default=_json_default)
        )

    def write_jsonl(self, relpath: str | Path, rows: Iterable[Any]) -> Path:
        return atomic_write(self.path / relpath, "".join(_dumps(row) + "\n" for row in rows))

    def _append(self, relpath: str, rows: Iterable[Any]) -> None:
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(_dumps(row) + "\n" for row in rows)
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(lines)
            fh.flush()

    def log_metrics(self, row: Mapping[str, Any]) -> None:
        """Append one row to ``metrics.jsonl``."""
        self._append("metrics.jsonl", [dict(row)])

    def log_samples(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows to ``samples.jsonl``."""
        self._append("samples.jsonl", [dict(r) for r in rows])

    def read_jsonl(self, relpath: str | Path) -> list[Any]:
        target = self.path / relpath
        if not target.exists():
            return []
        return [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines() if line.strip()]

    # -- checkpoints and stages ------------------------------------------------------------------
    def checkpoint_dir(self, step: int) -> Path:
        """``checkpoints/step-<step>/`` (created)."""
        path = self.path / "checkpoints" / f"step-{int(step)}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def last_checkpoint(self) -> Path | None:
        """The non-empty checkpoint folder with the highest step, or None."""
        root = self.path / "checkpoints"
        if not root.is_dir():
            return None
        found = []
        for child in root.iterdir():
            match = re.fullmatch(r"(?:step|checkpoint)-(\d+)", child.name)
            if match and child.is_dir() and any(child.iterdir()):
                found.append((int(match.group(1)), child))
        return max(found)[1] if found else None

    def done(self, stage: str) -> bool:
        return (self.path / "stages" / f"{stage}.done").exists()

    def mark_done(self, stage: str) -> None:
        atomic_write(self.path / "stages" / f"{stage}.done", datetime.now().isoformat())

    # -- report ----------------------------------------------------------------------------------
    def write_report(self, markdown: str, plots: Mapping[str, Any] | None = None) -> Path:
        """Write ``report.md`` and each plot as ``plots/<name>.png``.

        A plot is a matplotlib Figure (saved and closed), PNG bytes, or the path of an existing PNG.
        """
        for name, plot in (plots or {}).items():
            target = self.path / "plots" / f"{name}.png"
            if isinstance(plot, bytes | bytearray):
                atomic_write(target, bytes(plot))
            elif isinstance(plot, str | Path):
                atomic_write(target, Path(plot).read_bytes())
            else:
                buffer = io.BytesIO()
                plot.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
                atomic_write(target, buffer.getvalue())
                import matplotlib.pyplot as plt

                plt.close(plot)
        return atomic_write(self.path / "report.md", markdown)
