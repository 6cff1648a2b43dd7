"""Who is acting: a user, the system (sweep, evaluation close), or the public."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """The caller of a service, with the region subtree it acts within."""

    id: int | None
    username: str
    role: str
    display_name: str
    region_path: str = "/"
    region_code: str | None = None

    def covers(self, path: str | None) -> bool:
        """Whether a row at `path` is inside the actor's region."""
        return bool(path) and path.startswith(self.region_path)


SYSTEM = Actor(id=None, username="system", role="system", display_name="系统")
PUBLIC = Actor(id=None, username="public", role="public", display_name="公众")


def from_user(user) -> Actor:
    """An Actor for a stored user."""
    return Actor(
        id=user.id,
        username=user.username,
        role=user.role,
        display_name=user.display_name,
        region_path=user.region_path or "/",
        region_code=user.region_code,
    )
