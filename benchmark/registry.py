"""One generic registry for models, variants, datasets, encoders and suites.

Entries are registered with a decorator or as lazy ``"module:attr"`` strings; unknown names fail with
a "did you mean" suggestion so a typo on the command line is a one-look fix. Built-in entries come
from ``PLUGIN_MODULES``; third-party packages add theirs through entry points (``load_plugins``).
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message lists close matches."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    """'Unknown <kind> <name>. Did you mean ...? Known <kind>s: ...' (a case-only slip is matched first)."""
    same_case = [k for k in known if k.lower() == name.lower()]
    close = same_case or difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    listed = ", ".join(repr(k) if " " in k else k for k in sorted(known)) or "(none registered)"
    return f"Unknown {kind} {name!r}.{hint} Known {kind}s: {listed}."


class Registry(Generic[T]):
    """Name -> object map with lazy entries and helpful errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str, obj: T | str | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; without ``obj`` acts as a decorator."""
        if obj is None:
            def decorator(target: T) -> T:
                self._add(name, target)
                return target
            return decorator
        self._add(name, obj)
        return obj

    def _add(self, name: str, obj: Any) -> None:
        if name in self._entries and self._entries[name] is not obj:
            existing = self._entries[name]
            # re-import of the same module object (e.g. importlib.reload) is harmless
            if getattr(existing, "__qualname__", None) != getattr(obj, "__qualname__", object()):
                raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise UnknownNameError(self._unknown_message(name))
        entry = self._entries[name]
        if isinstance(entry, str) and ":" in entry:
            module_name, attr = entry.split(":", 1)
            entry = getattr(importlib.import_module(module_name), attr)
            self._entries[name] = entry
        return entry

    def _unknown_message(self, name: str) -> str:
        return unknown_name_message(self.kind, name, list(self._entries))

    def unregister(self, name: str) -> None:
        """Forget ``name`` (a suite file that failed validation must not linger in the process)."""
        self._entries.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


MODELS: Registry = Registry("model")
VARIANTS: Registry = Registry("variant")  # keyed "model:variant"
DATASETS: Registry = Registry("dataset")
ENCODERS: Registry = Registry("encoder")
SUITES: Registry = Registry("suite")

# Modules whose import registers entries. Keeping the list here (not scattered imports) makes
# `bench list` complete and lets tests check every registered model.
PLUGIN_MODULES: tuple[str, ...] = (
    "benchmark.data.catalog",
    "benchmark.encoders.catalog",
    "benchmark.models.coolant",
    "benchmark.models.novemofake",
    "baselines",
    "ablations",
    "benchmark.suites",
)


ENTRY_POINT_GROUP = "mmfnd_bench.plugins"  # third-party packages: each entry point names a module to import
_LOADED_ENTRY_POINTS: set[tuple[str, str]] = set()


class PluginError(RuntimeError):
    """An installed plugin (entry point of group ``mmfnd_bench.plugins``) failed to import."""


def plugin_entry_points() -> list:
    """Installed third-party plugins (cheap: package metadata only, nothing imported)."""
    from importlib.metadata import entry_points
    return list(entry_points(group=ENTRY_POINT_GROUP))


def load_plugins() -> None:
    """Import every module that registers entries, then every installed plugin (idempotent).

    Plugins are the entry points of group ``mmfnd_bench.plugins`` (value: a module, imported for its
    registrations). A plugin that fails to import stops the command naming the entry point and its
    distribution: a silently missing model would turn into a half-empty table.
    """
    for module_name in PLUGIN_MODULES:
        importlib.import_module(module_name)
    from importlib.metadata import entry_points
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        key = (entry.name, entry.value)
        if key in _LOADED_ENTRY_POINTS:
            continue
        dist = getattr(entry.dist, "name", None) or "an installed package"
        try:
            importlib.import_module(entry.module)
        except Exception as exc:
            raise PluginError(f"plugin {entry.name} = {entry.value} (entry point group {ENTRY_POINT_GROUP!r} of "
                              f"{dist}) failed to import: {type(exc).__name__}: {exc}. Fix the plugin, or remove "
                              f"it with `pip uninstall {dist}`") from exc
        _LOADED_ENTRY_POINTS.add(key)
