"""Where a benchmark run points: one backend, one scratch database.

The parent process builds a `Target`, hands it to each child as JSON, and every peer derives
the URL spelling its library wants from it, so all peers hit the same database.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from urllib.parse import quote, urlsplit

BACKENDS = ("sqlite", "postgres", "mysql")
SCRATCH_DB = "sx_bench"


@dataclass(frozen=True)
class Target:
    backend: str  # one of BACKENDS
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = ""
    database: str = ""
    path: str = ""  # SQLite file

    @classmethod
    def from_server_url(cls, backend: str, url: str, database: str = SCRATCH_DB) -> Target:
        """`postgresql://postgres@127.0.0.1:5432` -> the scratch database on that server."""
        parts = urlsplit(url)
        default_port = 5432 if backend == "postgres" else 3306
        return cls(
            backend=backend,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or default_port,
            user=parts.username or "",
            password=parts.password or "",
            database=database,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Target:
        return cls(**json.loads(text))

    def with_database(self, database: str) -> Target:
        return Target(**{**asdict(self), "database": database})

    def _netloc(self) -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"{auth}@{self.host}:{self.port}"

    def url(self, scheme: dict[str, str]) -> str:
        """The URL with the scheme a library uses for this backend (`scheme[backend]`)."""
        if self.backend == "sqlite":
            return f"{scheme['sqlite']}:///{self.path}"
        return f"{scheme[self.backend]}://{self._netloc()}/{self.database}"

    @property
    def sqlalchemy_url(self) -> str:
        return self.url(
            {
                "sqlite": "sqlite+aiosqlite",
                "postgres": "postgresql+asyncpg",
                "mysql": "mysql+aiomysql",
            }
        )

    @property
    def plain_url(self) -> str:
        """The driverless URL a user would give sqlmodelx."""
        return self.url({"sqlite": "sqlite", "postgres": "postgresql", "mysql": "mysql"})

    @property
    def tortoise_url(self) -> str:
        return self.url({"sqlite": "sqlite", "postgres": "postgres", "mysql": "mysql"})
