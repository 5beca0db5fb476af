"""Where the store lives and how it is tuned: `~/.renacer/config.toml` (the spec's Appendix B).

Resolution order for the database directory: an explicit path (`--db`) > `RENACER_DB` >
`database.path` in the config file > `~/.renacer/db`.  The config file itself is
`~/.renacer/config.toml` unless `RENACER_CONFIG` names another one.  A malformed file is a
`ConfigError` with one line that names the file and the key; nothing here prints.

Every key the file sets is remembered with its line (`Config.origins`, for `renacer-tui
config`), and a key no section knows is a warning naming the file and line (`Config.warnings`,
printed with the store's warnings) rather than silently ignored.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

DEFAULT_DB = "~/.renacer/db"
DEFAULT_CONFIG = "~/.renacer/config.toml"
_COMPRESSIONS = ("zstd", "snappy", "gzip", "lz4", "brotli", "none")


class ConfigError(Exception):
    """The configuration (file or value) is unusable; the message is one line for the user."""


@dataclass(frozen=True)
class DatabaseConfig:
    """`[database]`: storage location, retention and Parquet tuning."""

    path: Path | None = None
    retention_days: int = 90
    compression: str = "zstd"
    #: zstd 9: about 15 % smaller than 3 on real traces for about twice the (small) CPU.
    compression_level: int = 9
    row_group_size: int = 10_000
    #: A segment is written at least this often while spans arrive (crash window).
    flush_interval_s: float = 2.0
    #: …or as soon as this many rows are buffered.
    flush_rows: int = 262_144
    #: Keep the bytes of read/write buffers in `syscall.args` (`--store-payloads`); off, the
    #: store and OTLP get `<not stored>` in their place (model.payload_privacy).
    store_payloads: bool = False


@dataclass(frozen=True)
class OtlpConfig:
    """`[otlp]`: dual-write to an OpenTelemetry collector."""

    #: every run exports to `endpoint` (as `--otlp-endpoint`; the command line wins, `--no-otlp` opts out)
    enabled: bool = False
    endpoint: str = "http://localhost:4317"
    protocol: str = "grpc"  # or http/protobuf (`--otlp-protocol` wins)
    #: spans per export request, and the longest a span waits for its request to fill
    batch_size: int = 512
    batch_delay_ms: int = 1000
    #: sent with every request, below OTEL_EXPORTER_OTLP_HEADERS and `--otlp-header`
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SamplingConfig:
    """`[sampling]`: adaptive sampling of fast calls (tracer.sampling); off unless both are set."""

    threshold_us: float | None = None  # calls faster than this are sampled
    sample_rate: float | None = None  # …at this rate (0.01: one in 100 kept, standing for 100)


#: The analysis's name for the threshold the spec calls `tight_loop_threshold`.
TIGHT_LOOP_FIELD = "tight_loop_min_calls"


@dataclass(frozen=True)
class GraphConfig:
    """`[graph]`: analysis switches and thresholds; other threshold keys stay in `extra`.

    `tight_loop_threshold` (the spec's key) is the number of back-to-back identical calls of
    one thread that make a tight loop; None when the file does not set it, so the analysis
    keeps its own default (1000: the spec's example of 5 flags every program's start-up).
    """

    enable_antipattern_detection: bool = True
    god_process_threshold: int = 100
    tight_loop_threshold: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def threshold(self, name: str, default: Any) -> Any:
        """A threshold by the analysis's name, known or added later by the analysis (`extra`)."""
        if name == TIGHT_LOOP_FIELD and self.tight_loop_threshold is not None:
            return self.tight_loop_threshold
        if hasattr(self, name) and name != "extra":
            value = getattr(self, name)
            return default if value is None else value
        return self.extra.get(name, default)


@dataclass(frozen=True)
class Config:
    """The whole configuration; `sections` keeps every table of the file as read."""

    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    otlp: OtlpConfig = field(default_factory=OtlpConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    sections: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None
    #: "section.key" → line number in `source`, for every key the file sets.
    origins: Mapping[str, int] = field(default_factory=dict)
    #: One line each: unknown sections and keys (`FILE:LINE: …`).
    warnings: tuple[str, ...] = ()


#: Keys of each section this module reads (the spec's Appendix B plus the tuning keys).
KNOWN_KEYS: dict[str, frozenset[str]] = {
    "database": frozenset(
        {"path", "retention_days", "compression", "compression_level", "row_group_size", "flush_interval_s", "flush_rows",
         "store_payloads"}
    ),
    "otlp": frozenset({"enabled", "endpoint", "protocol", "batch_size", "batch_delay_ms", "headers"}),
    #: `[graph]` also takes any threshold of the analysis by name; the UI layer, which knows
    #: those names, checks the rest (renacer_tui/thresholds.py).
    "graph": frozenset({"enable_antipattern_detection", "god_process_threshold", "tight_loop_threshold"}),
    "sampling": frozenset({"threshold_us", "sample_rate"}),
}

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')\s*(\.|=)")


def key_lines(text: str) -> dict[str, int]:
    """"section.key" → 1-based line of each top-level key assignment under a `[section]` header.

    Enough for the flat tables of config.toml (dotted and inline-table keys count under their
    first part); used for messages only, never for values, which come from tomllib.
    """
    lines: dict[str, int] = {}
    section = ""
    in_multiline = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.count('"""') % 2 or line.count("'''") % 2:
            in_multiline = not in_multiline
            continue
        if in_multiline:
            continue
        header = _HEADER.match(line)
        if header:
            section = header.group(1).strip().strip("\"'")
            lines.setdefault(section, number)
            continue
        key = _KEY.match(line)
        if key:
            name = key.group(1).strip("\"'")
            lines.setdefault(f"{section}.{name}" if section else name, number)
    return lines


def unknown_key_warnings(data: Mapping[str, Any], lines: Mapping[str, int], where: str) -> tuple[str, ...]:
    """`FILE:LINE: unknown key graph.x (ignored)` for each section or key this module does not read."""
    out = []
    for section, value in data.items():
        known = KNOWN_KEYS.get(section)
        if known is None:
            out.append(f"{where}:{lines.get(section, '?')}: unknown section [{section}] (ignored)")
            continue
        if section == "graph" or not isinstance(value, dict):
            continue  # [graph] thresholds are checked where their names are known
        for key in value:
            if key not in known:
                out.append(f"{where}:{lines.get(f'{section}.{key}', '?')}: unknown key {section}.{key} (ignored)")
    return tuple(out)


def config_file() -> Path:
    """The config file location (`RENACER_CONFIG` or `~/.renacer/config.toml`)."""
    return Path(os.environ.get("RENACER_CONFIG") or DEFAULT_CONFIG).expanduser()


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config file; a missing file means defaults."""
    source = Path(path).expanduser() if path is not None else config_file()
    try:
        with open(source, "rb") as fh:
            raw = fh.read()
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        return Config()
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: invalid TOML: not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror or exc}") from None
    lines = key_lines(text)
    config = parse_config(data, source)
    return replace(config, origins=lines, warnings=unknown_key_warnings(data, lines, str(source)))


def parse_config(data: Mapping[str, Any], source: Path | None = None) -> Config:
    """Validate a decoded TOML document into a `Config` (exposed for tests and callers)."""
    where = str(source) if source else "config"
    db = _section(data, "database", where)
    otlp = _section(data, "otlp", where)
    graph = _section(data, "graph", where)
    raw_path = _get(db, "path", str, None, where, "database")
    database = DatabaseConfig(
        path=Path(raw_path).expanduser() if raw_path else None,
        retention_days=_get(db, "retention_days", int, 90, where, "database", minimum=1),
        compression=_get(db, "compression", str, "zstd", where, "database").lower(),
        compression_level=_get(db, "compression_level", int, 9, where, "database"),
        row_group_size=_get(db, "row_group_size", int, 10_000, where, "database", minimum=1),
        flush_interval_s=float(_get(db, "flush_interval_s", (int, float), 2.0, where, "database", minimum=0)),
        flush_rows=_get(db, "flush_rows", int, 262_144, where, "database", minimum=1),
        store_payloads=_get(db, "store_payloads", bool, False, where, "database"),
    )
    if database.compression not in _COMPRESSIONS:
        raise ConfigError(f"{where}: database.compression must be one of {', '.join(_COMPRESSIONS)}")
    headers = otlp.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"{where}: otlp.headers must be a table of strings")
    otlp_cfg = OtlpConfig(
        enabled=_get(otlp, "enabled", bool, False, where, "otlp"),
        endpoint=_get(otlp, "endpoint", str, "http://localhost:4317", where, "otlp"),
        protocol=_get(otlp, "protocol", str, "grpc", where, "otlp"),
        batch_size=_get(otlp, "batch_size", int, 512, where, "otlp", minimum=1),
        batch_delay_ms=_get(otlp, "batch_delay_ms", int, 1000, where, "otlp", minimum=0),
        headers=dict(headers),
    )
    if otlp_cfg.protocol not in ("grpc", "http/protobuf"):
        raise ConfigError(f"{where}: otlp.protocol must be grpc or http/protobuf, got {otlp_cfg.protocol!r}")
    known = {"enable_antipattern_detection", "god_process_threshold", "tight_loop_threshold"}
    graph_cfg = GraphConfig(
        enable_antipattern_detection=_get(graph, "enable_antipattern_detection", bool, True, where, "graph"),
        god_process_threshold=_get(graph, "god_process_threshold", int, 100, where, "graph", minimum=1),
        tight_loop_threshold=_get(graph, "tight_loop_threshold", int, None, where, "graph", minimum=1),
        extra={k: v for k, v in graph.items() if k not in known},
    )
    sampling = _section(data, "sampling", where)
    rate = _get(sampling, "sample_rate", (int, float), None, where, "sampling")
    if rate is not None and not 0 < rate <= 1:
        raise ConfigError(f"{where}: sampling.sample_rate must be in (0, 1], got {rate!r}")
    threshold = _get(sampling, "threshold_us", (int, float), None, where, "sampling", minimum=0)
    sampling_cfg = SamplingConfig(None if threshold is None else float(threshold), None if rate is None else float(rate))
    return Config(database=database, otlp=otlp_cfg, graph=graph_cfg, sampling=sampling_cfg, sections=dict(data),
                  source=source)


def resolve_db_path(explicit: str | os.PathLike[str] | None = None, config: Config | None = None) -> Path:
    """The database directory by precedence (`--db` > `RENACER_DB` > config > default)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("RENACER_DB")
    if env:
        return Path(env).expanduser()
    cfg = config if config is not None else load_config()
    if cfg.database.path is not None:
        return cfg.database.path
    return Path(DEFAULT_DB).expanduser()


def private_mkdir(path: Path, top: Path) -> None:
    """Create `path` and every missing folder between it and `top` with mode 0700.

    `Path.mkdir(parents=True)` makes the missing parents with the default mode, which under
    umask 000 is 0777; each level is made here with 0700 instead (a umask can only narrow it).
    """
    missing = []
    current = path
    while not current.is_dir() and current != top and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            if not folder.is_dir():
                raise


def ensure_db_dir(path: Path) -> Path:
    """Create the directory (mode 0700: traces hold paths and arguments) and return it."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create database directory {path}: {exc.strerror or exc}") from None
    if not path.is_dir():
        raise ConfigError(f"database path {path} is not a directory")
    return path


def tighten_db_dir(path: Path) -> str | None:
    """Make an existing store folder private (0700); a note saying so, or why it could not be.

    Traces hold commands, working directories, hosts and arguments: a store made by an older
    version or by hand at 0755 would let every local user read them.  Only the owner's own
    folder is changed; None when it already was private.
    """
    try:
        info = path.stat()
    except OSError:
        return None
    mode = info.st_mode & 0o777
    if not mode & 0o077 or info.st_uid != os.geteuid():
        return None
    try:
        os.chmod(path, 0o700)
    except OSError as exc:
        return f"store folder {path} is readable by others (mode {mode:04o}) and could not be made private: {exc.strerror or exc}"
    return f"store folder {path} was readable by others (mode {mode:04o}); its mode is now 0700"


def _section(data: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return value


def _get(
    section: Mapping[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    default: Any,
    where: str,
    prefix: str,
    minimum: float | None = None,
) -> Any:
    """One typed value; bools are not accepted where numbers are expected (TOML `true` ≠ 1)."""
    if key not in section:
        return default
    value = section[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    bad_bool = isinstance(value, bool) and bool not in kinds
    if bad_bool or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"{where}: {prefix}.{key} must be {names}, got {value!r}")
    if minimum is not None and isinstance(value, (int, float)) and value < minimum:
        raise ConfigError(f"{where}: {prefix}.{key} must be at least {minimum}, got {value!r}")
    return value
