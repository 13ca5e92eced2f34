"""The model registry: models by name, and relations waiting for their target (L2).

A relation may name a model that is not defined yet (``ForeignKey("Tag")``). The
registry keeps such a relation pending and finishes it the moment the target class is
created, as Django's lazy model operations do. :func:`configure` fails, naming both
models, when a target never appeared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .exc import ConfigurationError

if TYPE_CHECKING:
    from .model import Model

_by_name: dict[str, list[type[Model]]] = {}
_pending: list[tuple[str, type[Model], str, Callable[[type[Model]], None]]] = []
_configured_hooks: list[Callable[[], None]] = []


def register(model: type[Model]) -> None:
    """Record a new concrete model and run every pending operation waiting for it."""
    for key in (model.__name__, f"{model.__module__}.{model.__name__}"):
        _by_name.setdefault(key, []).append(model)
    still: list[tuple[str, type[Model], str, Callable[[type[Model]], None]]] = []
    ready = []
    for entry in _pending:
        target = lookup(entry[0], entry[1])
        if target is None:
            still.append(entry)
        else:
            ready.append((entry, target))
    _pending[:] = still
    for (_, _, _, operation), target in ready:
        operation(target)


def unregister(model: type[Model]) -> None:
    """Forget a model (tests that define throwaway models use this)."""
    for models in _by_name.values():
        if model in models:
            models.remove(model)


def lookup(name: str, origin: type[Model] | None = None) -> type[Model] | None:
    """The model called ``name`` (``"Tag"`` or ``"app.models.Tag"``), or None."""
    models = _by_name.get(name)
    if not models:
        return None
    if len(models) > 1 and origin is not None:
        same_module = [m for m in models if m.__module__ == origin.__module__]
        if same_module:
            return same_module[-1]
    return models[-1]


def when_defined(
    name: str, origin: type[Model], relation: str, operation: Callable[[type[Model]], None]
) -> None:
    """Run ``operation(target)`` now if ``name`` is defined, else when it is."""
    target = lookup(name, origin)
    if target is not None:
        operation(target)
    else:
        _pending.append((name, origin, relation, operation))


def configure() -> None:
    """Check that every relation found its target; raise naming both models if not."""
    if _pending:
        name, origin, relation, _ = _pending[0]
        raise ConfigurationError(
            f"{origin.__name__}.{relation} refers to model {name!r}, which is not defined "
            f"(define `class {name}(sx.Model)` or import its module before the first query)"
        )
    for hook in _configured_hooks:
        hook()


def is_configured() -> bool:
    return not _pending
