"""The Typer app, its consoles and the helpers every command shares (one-line errors, progress bars)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from scalinglab.errors import ScalingLabError, SpecError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="scalinglab: sweeps, fits and theory of neural scaling laws.",
)
console = Console(stderr=True)
out_console = Console()


class RateColumn(ProgressColumn):
    """Points per second."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} pt/s", style="progress.data.speed")


def _version(value: bool) -> None:
    if value:
        from scalinglab import __version__

        out_console.print(f"scalinglab {__version__}")
        raise typer.Exit()


@app.callback()
def _each_command(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                               help="Print the version and exit.")) -> None:
    out_console.quiet = False  # --quiet of an earlier command in this process does not carry over


def set_quiet(quiet: bool) -> None:
    """--quiet: no progress bars and nothing on standard output; errors, failures and warnings still show."""
    out_console.quiet = quiet


def progress_bar(*columns: Any) -> Progress:
    """A transient progress bar on stderr; off with --quiet and when stderr is not a terminal (logs, pipes)."""
    return Progress(*columns, console=console, transient=True, disable=out_console.quiet or not console.is_terminal)


# The flag of each library parameter whose flag is not just "--" + the name with dashes (errors.py).
FLAGS = {"n_boot": "--bootstrap", "local_workers": "--dask-local", "step": "--step-col", "run": "--run-col",
         "names": "--data"}


def flag(param: str) -> str:
    """The command-line flag of a library parameter (``FLAGS``, else ``--`` and the name with dashes)."""
    return FLAGS.get(param, "--" + param.replace("_", "-"))


def error_line(err: ScalingLabError) -> str:
    """The one line a user error prints: its parameter shown as the flag."""
    text = f"{flag(err.param)}: {err.detail}" if err.param else str(err)
    return text.splitlines()[0] if text else type(err).__name__


def fail(message: str) -> None:
    console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def check_out_file(path: Path, option: str) -> Path:
    """The output file of ``option``, checked before any work: SpecError unless it is (or can be) a file in an
    existing folder that can be written in. Nothing is created."""
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{option}: {path} is a folder; give a file name")
    folder = path.parent
    if not folder.exists():
        raise SpecError(f"{option}: folder {folder} of {path} does not exist")
    if not folder.is_dir():
        raise SpecError(f"{option}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SpecError(f"{option}: cannot write {path}")
    return path


def check_plot_path(plot: Path) -> None:
    """--plot: a file in an existing folder, with a suffix naming a format matplotlib writes (a missing suffix
    would make matplotlib write PLOT.png instead)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    check_out_file(plot, "--plot")
    formats = sorted(FigureCanvasAgg(Figure()).get_supported_filetypes())
    suffix = Path(plot).suffix.lower().lstrip(".")
    if suffix not in formats:
        what = f"unknown format {Path(plot).suffix!r}" if suffix else "no suffix naming a format"
        raise SpecError(f"--plot: {plot} has {what} (one of {', '.join(formats)})")


def guard(fn):
    """Turn user errors into a one-line message and exit status 2."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ScalingLabError as err:
            fail(error_line(err))
        except KeyboardInterrupt:
            console.print("interrupted: finished seeds are stored; run again to resume")
            raise typer.Exit(130) from None

    return wrapper


def executor_options(workers: Optional[int], scheduler: Optional[str], dask_local: Optional[int],
                      retries: Optional[int]):
    """Check the sweep options before anything is opened; returns the executor's context (None: local pool)."""
    from scalinglab.sweep.executors import select_executor

    if retries is not None and retries < 0:
        raise SpecError(f"--retries: must be non-negative, got {retries}")
    return select_executor(workers, scheduler, dask_local)


def check_memory(spec, max_memory: Optional[float]) -> None:
    """``sweep.spec.check_resources``, its refusal naming the flag that sets the limit."""
    from scalinglab.sweep.spec import check_resources

    try:
        check_resources(spec, max_memory)
    except SpecError as err:
        raise SpecError(f"{error_line(err)}; --max-memory sets the limit") from None


def run_spec(spec, store, workers: Optional[int], *, quiet: bool = False, cluster=None, retries: Optional[int] = None,
         max_memory: Optional[float] = None) -> int:
    from scalinglab.extras import check_spec
    from scalinglab.sweep.runner import RETRIES, register_spec, run_sweep

    if cluster is None:
        cluster = executor_options(workers, None, None, retries)
    check_memory(spec, max_memory)  # a spec that cannot run writes nothing
    check_spec(spec)  # nor one whose model needs a module that is not installed
    register_spec(spec, store)  # a refused spec fails here, before any progress bar is drawn
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("points"),
               RateColumn(), TimeRemainingColumn()]
    set_quiet(quiet or out_console.quiet)
    with cluster as executor, progress_bar(*columns) as progress:
        task = progress.add_task(spec.name, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return run_sweep(spec, store, workers=workers, progress=update, executor=executor,
                         retries=RETRIES if retries is None else retries, max_memory=max_memory)


def report_failures(store, experiment: str) -> None:
    """Print each failed seed of the experiment on one line; exit with status 1 if there is any."""
    failures = store.failures(experiment)
    for f in failures:
        console.print(Text(f"failed: {experiment} seed {f['seed']} after {f['attempts']} attempt(s): {f['error']}",
                           style="red"), highlight=False, soft_wrap=True)
    if failures:
        console.print(Text(f"{len(failures)} seed(s) failed; the others are stored. Run again to retry them "
                           "(scalinglab store check lists failures)."), highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def analyse_stored(store, experiment: str, n_boot: int = 1000, grid=None) -> dict[str, Any]:
    """``report.analysis.analyse`` of a stored experiment (``grid``: its points, if already read)."""
    from scalinglab.report.analysis import analyse

    return analyse(store.spec_of(experiment), store.columns(experiment) if grid is None else grid, n_boot=n_boot)


def stored_grid(store, experiment: str):
    """A stored experiment's points as a ``fit.regimes.Grid``, read once as columns."""
    from scalinglab.fit.regimes import Grid

    return Grid.of(store.columns(experiment))


def print_regimes(fits: dict[str, Any]) -> None:
    """The measured-against-predicted table of ``report.analysis.analyse`` (every text escaped for rich)."""
    from rich import box

    from scalinglab.theory.bahri import REGIMES

    table = Table(title=Text(f"{fits['experiment']}: exponents (95% interval over {fits['n_seeds']} seeds)"),
                  box=box.SIMPLE_HEAD)
    for col in ("slice", "measured [95%]", "regime", "pred.", "agrees"):
        table.add_column(col, justify="left" if col in ("slice", "regime", "agrees") else "right",
                         no_wrap=col != "slice", overflow="fold", min_width=24 if col == "slice" else None)
    for r in fits["rows"]:
        name = r["name"] if r["name"] in REGIMES else r["description"]  # the four regimes by their names
        if "error" in r:
            table.add_row(Text(name), "", Text(r["error"]), "", "")
            continue
        lo, hi = r["ci95"]
        agree = "no theory" if r["in_interval"] is None else ("yes" if r["in_interval"] else "NO")
        regime = r["regime"].split("_")[0] if r["regime"] in ("variance_limited", "resolution_limited") else \
            "steeper" if r["regime"].startswith("steeper") else "undetermined"
        table.add_row(Text(name), Text(f"{r['exponent']:.3f} [{lo:.3f}, {hi:.3f}]"), Text(regime),
                      Text("-" if r["predicted"] is None else f"{r['predicted']:.3g}"), Text(agree))
    out_console.print(table)
    for problem in fits.get("problems", []):
        console.print(Text.assemble(("warning:", "yellow"), " ", problem), soft_wrap=True)


def open_store_at(path: Path, create: bool = False, readonly: bool = False):
    """The store at ``path``; ``readonly`` for commands that only read (the file is never changed)."""
    from scalinglab.sweep.store import Store

    return Store(path, create=create, readonly=readonly)
