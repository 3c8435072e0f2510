"""The memory watch's settings: from the environment (operators switch it without a code
change), overridden by what the code passes, checked before anything starts.

Every bad value stops ``watch_memory()`` at the service's start with a message naming the
setting, what it got and what it takes: a watch that silently does nothing is worse than none.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from memwise_runtime.sizes import ACCEPTED, parse_size

# The environment's contract (documented in .memwise/README.md, "Watching memory in
# production"): variable -> the keyword argument of watch_memory() that wins over it.
VARIABLES = {
    "MEMWISE_WATCH": "enabled",
    "MEMWISE_WATCH_THRESHOLD": "threshold",
    "MEMWISE_WATCH_GROWTH": "growth",
    "MEMWISE_WATCH_WINDOW": "window",
    "MEMWISE_WATCH_INTERVAL": "interval",
    "MEMWISE_WATCH_CAPTURE_SECONDS": "capture_seconds",
    "MEMWISE_WATCH_COOLDOWN": "cooldown",
    "MEMWISE_WATCH_MAX_CAPTURES": "max_captures",
    "MEMWISE_WATCH_MAX_CAPTURE_BYTES": "max_capture_bytes",
    "MEMWISE_CAPTURES": "captures_folder",
    "MEMWISE_WATCH_LIVE_PORT": "live_port",
    "MEMWISE_WATCH_LIVE_ADDRESS": "live_address",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class WatchSettingError(ValueError):
    """A setting of the memory watch that cannot be used; the message names it."""


@dataclass(frozen=True)
class WatchSettings:
    """What the watch does. Sizes are bytes, times are seconds; ``None`` means "not set"."""

    enabled: bool = False
    threshold: int | None = None  # resident memory that triggers a capture
    growth: int | None = None  # growth within ``window`` that triggers a capture
    window: float = 600.0
    interval: float = 10.0
    capture_seconds: float = 30.0
    cooldown: float = 600.0
    max_captures: int = 5
    max_capture_bytes: int = 1024 * 1024 * 1024
    captures_folder: Path | None = None
    live_port: int | None = None
    live_address: str = "127.0.0.1"

    @property
    def triggers(self) -> bool:
        return self.threshold is not None or self.growth is not None


def read_settings(
    overrides: Mapping[str, object], environ: Mapping[str, str] | None = None
) -> WatchSettings:
    """The settings from ``environ`` (``os.environ`` by default), each replaced by the
    keyword argument of the same meaning when the code gives one (not ``None``).

    A watch that is off reads nothing else: a service never fails to start over the
    settings of a watch it does not run.
    """
    environ = os.environ if environ is None else environ
    given: dict[str, object] = {}
    for variable, key in VARIABLES.items():  # MEMWISE_WATCH first
        value = overrides.get(key)
        name = f"watch_memory({key}=...)"
        if value is None and environ.get(variable, "").strip():
            value, name = environ[variable].strip(), variable
        elif value is None:
            value = False if key == "enabled" else None
        if key == "enabled" and not _switch(name, value):
            return WatchSettings()
        if value is not None:
            given[key] = _convert(key, name, value)
    settings = WatchSettings(**given)  # type: ignore[arg-type]
    _check_together(settings)
    return settings


def _convert(key: str, name: str, value: object) -> object:
    if key == "enabled":
        return _switch(name, value)
    if key in ("threshold", "growth", "max_capture_bytes"):
        return _size(name, value)
    if key in ("window", "interval", "capture_seconds", "cooldown"):
        return _seconds(name, value, zero_allowed=key == "cooldown")
    if key == "max_captures":
        return _count(name, value)
    if key == "live_port":
        return _port(name, value)
    if key == "captures_folder":
        return Path(str(value)).expanduser()
    return str(value)


def _switch(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise WatchSettingError(
        f"{name} = {value!r}: write 1 to switch the watch on, 0 to leave it off"
    )


def _size(name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value  # bytes, from code
    try:
        size = parse_size(value)
    except ValueError:
        raise WatchSettingError(
            f"{name} = {value!r} is not a size: write {ACCEPTED}"
        ) from None
    if size <= 0:
        raise WatchSettingError(f"{name} = {value!r}: the size must be above zero")
    return size


def _seconds(name: str, value: object, *, zero_allowed: bool) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero_allowed):
        least = "zero or more" if zero_allowed else "a positive number of"
        raise WatchSettingError(f"{name} = {value!r}: write {least} seconds, e.g. 10")
    return seconds


def _count(name: str, value: object) -> int:
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise WatchSettingError(
            f"{name} = {value!r}: write a whole number of 1 or more"
        )
    return int(text)


def _port(name: str, value: object) -> int:
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise WatchSettingError(
            f"{name} = {value!r}: write a TCP port between 1 and 65535"
        )
    return int(text)


def _check_together(settings: WatchSettings) -> None:
    if settings.triggers and settings.captures_folder is None:
        raise WatchSettingError(
            "MEMWISE_CAPTURES is not set: a threshold or growth records a capture, so name "
            "the folder for it (MEMWISE_CAPTURES=/var/tmp/memwise, or captures_folder= in code)"
        )
    if settings.growth is not None and settings.window < settings.interval:
        raise WatchSettingError(
            f"MEMWISE_WATCH_WINDOW = {settings.window:g} is shorter than the interval between "
            f"samples ({settings.interval:g} s): growth needs two samples in the window"
        )
    if settings.captures_folder is not None:
        check_writable("MEMWISE_CAPTURES", settings.captures_folder)


def check_writable(name: str, folder: Path) -> None:
    """Create ``folder`` if needed and write a file into it, or say why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".memwise-check-"):
            pass
    except OSError as error:
        raise WatchSettingError(
            f"{name} = {str(folder)!r}: the folder cannot be written ({error.strerror or error})"
        ) from None
