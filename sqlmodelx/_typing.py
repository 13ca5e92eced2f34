"""Small typing helpers and sentinels shared by every layer (L0)."""

from __future__ import annotations

import enum
from typing import Final


class _Missing(enum.Enum):
    """The type of :data:`MISSING`: an argument that was not given."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing.MISSING
