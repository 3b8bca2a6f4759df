"""The CLI convention every package follows, in one place.

A pipeline command takes ``--recipe FILE`` (default: the package's ``recipes/toy.yaml``), any number of
trailing ``key=value`` overrides, and ``--out DIR`` for the run directory (``--run-dir`` is an alias).
Errors a user can fix (:data:`rlcore.errors.USER_ERRORS`: bad config, bad data, unknown model, missing
file, unreachable server) print one line and exit with code 2;
progress goes through rich.

Usage in a package's ``cli.py``::

    app = make_app("relayllm", "Relay decoding between a small and a large model.")

    @app.command()
    @user_errors
    def train(recipe: RecipeOpt = None, out: OutOpt = None, overrides: OverridesArg = None):
        config = load_recipe(RelayConfig, recipe, overrides, default=TOY_RECIPE)
        ...
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from rlcore.config import load_config
from rlcore.errors import USER_ERRORS
from rlcore.runs import RunDir

__all__ = [
    "OutOpt",
    "OverridesArg",
    "RecipeOpt",
    "console",
    "error_console",
    "fail",
    "input_errors",
    "load_recipe",
    "make_app",
    "package_recipe",
    "run_directory",
    "user_errors",
]

T = TypeVar("T")

console = Console()
error_console = Console(stderr=True)

RecipeOpt = Annotated[
    Path | None, typer.Option("--recipe", help="YAML recipe (default: the package's recipes/toy.yaml).")
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "--run-dir", help="Run directory (default: runs/<package>/<timestamp>)."),
]
OverridesArg = Annotated[
    list[str] | None, typer.Argument(help="Config overrides as key=value (dotted keys for nested fields).")
]


def make_app(name: str, help: str) -> typer.Typer:
    """A typer app with the workspace's conventions (no shell completion, no locals in tracebacks)."""
    return typer.Typer(
        name=name, help=help, add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False
    )


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line to stderr and return the ``typer.Exit`` to raise."""
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    return " ".join(text.split()) or type(exc).__name__


def user_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator for a command: a user error becomes one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            raise fail(_one_line(exc)) from None

    return wrapper


def input_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """:func:`user_errors` plus every ``ValueError`` and ``KeyError``: for commands whose library functions
    signal bad arguments (an unknown template, method, seed entity or clue key) with the builtin errors."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (*USER_ERRORS, ValueError, KeyError) as exc:
            raise fail(_one_line(exc)) from None

    return wrapper


def package_recipe(cli_file: str | Path, name: str = "toy.yaml") -> Path:
    """A package's bundled recipe ``name``, found from its ``cli.py`` (pass ``__file__``).

    In a checkout it is ``packages/<dist>/recipes/<name>``, beside the package's pyproject; an installed wheel
    ships the same folder inside the import package (``<import>/recipes/``, the hatch ``force-include`` of every
    package's pyproject), so ``pip install <dist>`` followed by ``<dist> demo`` runs the toy recipe too.
    """
    here = Path(cli_file).resolve().parent
    checkout = here.parents[1] / "recipes" / name
    return checkout if checkout.exists() else here / "recipes" / name


def load_recipe(
    cls: type[T],
    recipe: Path | None,
    overrides: list[str] | None,
    *,
    default: Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> T:
    """The config of a pipeline command: ``recipe`` (or ``default``, when that file exists; see
    :func:`package_recipe`) plus the trailing overrides, then ``options``: dotted keys → a command's
    option values (``{"data.split": split}``), applied as ``key=value`` overrides when not None."""
    extra = [f"{key}={value}" for key, value in (options or {}).items() if value is not None]
    if recipe is None and default is not None and not Path(default).exists():
        default = None
    return load_config(cls, recipe or default, [*(overrides or ()), *extra])


@contextmanager
def run_directory(
    out: Path | None,
    *,
    package: str,
    name: str | None = None,
    config: Any = None,
    input_errors: bool = False,
) -> Iterator[RunDir]:
    """The command's :class:`RunDir`, removed again when the command fails with a user error and the
    directory did not exist before, so that bad input leaves nothing half-written. ``input_errors``: also
    on ``ValueError``/``KeyError`` (for commands decorated with :func:`input_errors`)."""
    existed = out is not None and Path(out).exists()
    run = RunDir(out, package=package, name=name, config=config)
    caught = (*USER_ERRORS, ValueError, KeyError) if input_errors else USER_ERRORS
    try:
        yield run
    except caught:
        if not existed:
            shutil.rmtree(run.path, ignore_errors=True)
        raise
