"""pytest plugin (entry point `renacer`): trace a program inside a test and assert on its trace.

    def test_fast(renacer):
        trace = renacer.run(["./app", "--flag"])
        trace.check("critical_path.duration_ms < 200ms")   # or trace.check() for renacer.toml
        assert trace.sql("SELECT count(*) AS n FROM spans")[0]["n"] > 0
        assert trace.critical_path.total_ns > 0

The program is traced in a child process (`renacer-tui --no-tui`), as a user would run it, so
ptrace never touches the pytest process.  Traces land in one store per session under pytest's
temporary directory unless `--renacer-db` names one; `--renacer-config` names the renacer.toml
that `trace.check()` reads (default: the one found from the rootdir).  A failed error-severity
assertion fails the test with the spec's message; a failed warning is a pytest warning.

Imports beyond pytest are deferred: the plugin loads in every pytest session of an environment
that has renacer-tui installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import pytest


class RenacerWarning(UserWarning):
    """A warning-severity trace assertion that did not hold."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("renacer", "renacer-tui trace assertions")
    group.addoption("--renacer-config", metavar="FILE", default=None,
                    help="renacer.toml for trace.check() (default: found from the rootdir).")
    group.addoption("--renacer-db", metavar="DIR", default=None,
                    help="Store traces here (default: a per-session store under pytest's temporary directory).")


class Trace:
    """One traced run: its id, exit code and output, and the analyses of its stored spans."""

    def __init__(self, session: "Renacer", trace_id: str, argv: list[str], result: subprocess.CompletedProcess[str]) -> None:
        self._session = session
        self.trace_id = trace_id
        self.argv = argv
        self.exit_code = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr

    def _with_store(self, action: Any) -> Any:
        from renacer_tui.store.store import Store

        with Store.open(self._session.db) as store:
            return action(store)

    @cached_property
    def metrics(self) -> Any:
        """`renacer_tui.check.metrics.TraceMetrics` of this trace (what conditions read)."""
        from renacer_tui.check.metrics import TraceMetrics

        return self._with_store(lambda store: TraceMetrics.from_store(store, self.trace_id))

    @property
    def critical_path(self) -> Any:
        """The critical path (`renacer_tui.analysis.critical_path.CriticalPath`)."""
        return self.metrics.critical_path

    @property
    def antipatterns(self) -> list[Any]:
        """The anti-pattern findings of the trace."""
        return self.metrics.findings

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a DuckDB query over this trace alone: `spans` (RLE expanded) and `spans_raw`."""
        import duckdb

        from renacer_tui.store.query import spans_view_sql

        raw = self._with_store(lambda store: store.trace_spans(self.trace_id))
        connection = duckdb.connect()
        try:
            connection.register("spans_raw", raw)
            connection.execute(f"CREATE TEMP VIEW spans AS {spans_view_sql('spans_raw')}")
            cursor = connection.execute(query, params)
            names = [column[0] for column in cursor.description or []]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        finally:
            connection.close()

    def check(self, *conditions: str, config: str | os.PathLike[str] | None = None, severity: str = "error") -> list[Any]:
        """Evaluate inline conditions, or renacer.toml (`config`, `--renacer-config`, or found).

        Fails the test with every failed error-severity assertion's message; warns for the rest.
        Returns the outcomes.
        """
        from renacer_tui.check import config as cfg
        from renacer_tui.check.evaluate import check_all
        from renacer_tui.check.report import headline

        problem = None
        try:
            if conditions:
                text = "".join(f"[[trace_assertions]]\ncondition = {_toml_string(c)}\nseverity = {_toml_string(severity)}\n"
                               for c in conditions)
                assertions = cfg.parse_config(text, Path("<inline>"))
            else:
                path = Path(config) if config is not None else self._session.config_path()
                if path is None:
                    raise cfg.ConfigError(f"no {cfg.CONFIG_NAME} found (pass --renacer-config or config=)")
                assertions = cfg.load(path)
        except cfg.ConfigError as exc:
            problem = f"bad trace condition: {exc}"
        if problem is not None:  # outside the except: the report shows one message, not a chain
            pytest.fail(problem, pytrace=False)
        outcomes = check_all(assertions, self.metrics)
        errors = [o for o in outcomes if o.failed and o.severity == "error"]
        for o in outcomes:
            if o.failed and o.severity == "warning":
                warnings.warn(RenacerWarning(headline(o)), stacklevel=2)
        if errors:
            lines = ["Trace assertion failed:"]
            for o in errors:
                lines.append(f"  {headline(o)}")
                lines += [f"  {detail}" for detail in o.details]
            lines.append(f"  (trace {self.trace_id} in {self._session.db})")
            pytest.fail("\n".join(lines), pytrace=False)
        return outcomes


def _toml_string(text: str) -> str:
    import json

    return json.dumps(text)  # a JSON string is a valid TOML basic string


class Renacer:
    """The `renacer` fixture: traces programs into the session's store."""

    def __init__(self, db: Path, config: Path | None, rootdir: Path) -> None:
        self.db = db
        self._config = config
        self._rootdir = rootdir

    def config_path(self) -> Path | None:
        if self._config is not None:
            return self._config
        from renacer_tui.check.config import find_config

        return find_config(Path.cwd()) or find_config(self._rootdir)

    def run(self, argv: Sequence[str | os.PathLike[str]], *, env: dict[str, str] | None = None,
            cwd: str | os.PathLike[str] | None = None, timeout: float = 600) -> Trace:
        """Trace `argv` to completion; the Trace keeps its exit code, stdout and stderr."""
        from renacer_tui.model.ids import new_trace_id

        args = [os.fspath(a) for a in argv]
        if not args:
            raise ValueError("renacer.run needs a program to run")
        trace_id = new_trace_id()
        command = [sys.executable, "-m", "renacer_tui", "--no-tui", "--db", str(self.db), "--trace-id", trace_id,
                   "--output", os.devnull, "--", *args]
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout,
                                stdin=subprocess.DEVNULL, errors="replace")
        if f"trace_id={trace_id}" not in result.stderr:
            pytest.fail(f"renacer could not trace {args!r}: {result.stderr.strip().splitlines()[-1:]}", pytrace=False)
        return Trace(self, trace_id, args, result)


@pytest.fixture(scope="session")
def _renacer_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = request.config.getoption("--renacer-db")
    return Path(given) if given else tmp_path_factory.mktemp("renacer-db")


@pytest.fixture()
def renacer(request: pytest.FixtureRequest, _renacer_db: Path) -> Renacer:
    """Trace programs in a test: `trace = renacer.run([...]); trace.check(...)`."""
    given = request.config.getoption("--renacer-config")
    return Renacer(_renacer_db, Path(given) if given else None, Path(request.config.rootpath))
