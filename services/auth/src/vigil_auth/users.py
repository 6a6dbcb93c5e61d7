"""Users in the USERS bucket, keyed by their username (case-insensitive).

The key is the lower-cased username made KV-safe (`records.record_key`), so `create`
is one revision-checked write: two admins (or two replicas) creating the same name at
once get one user and one `CONFLICT`. Each user also has an id that never changes; it
is the `sub` of their tokens and what a revocation names.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from vigil.access import Permission, Role
from vigil.ctl import Refused
from vigil.errors import RevisionConflict
from vigil.messages import ErrorCode, UserView
from vigil.messages.auth import check_permissions
from vigil.records import Records, Versioned, record_key
from vigil_auth.clock import Clock

_WRITE_ATTEMPTS = 5


class UserRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    username: str
    password_hash: str = Field(repr=False)
    roles: list[Role]
    clusters: list[str]
    permissions: list[Permission] = Field(default_factory=list)
    disabled: bool = False
    created_at: datetime
    created_by: str

    def view(self) -> UserView:
        return UserView(
            id=self.id,
            username=self.username,
            roles=self.roles,
            clusters=self.clusters,
            permissions=self.permissions,
            disabled=self.disabled,
            created_at=self.created_at,
        )


class Users:
    def __init__(self, records: Records[UserRecord], clock: Clock) -> None:
        self._records = records
        self._clock = clock

    @staticmethod
    def key(username: str) -> str:
        return record_key(username.lower())

    async def find(self, username: str) -> UserRecord | None:
        found = await self._records.get(self.key(username))
        return found.value if found else None

    async def is_empty(self) -> bool:
        return await self._records.is_empty()

    async def create(
        self,
        username: str,
        password_hash: str,
        roles: list[Role],
        clusters: list[str],
        created_by: str,
        permissions: Sequence[Permission] = (),
    ) -> UserRecord:
        """Store a new user; `Refused(CONFLICT)` when the name is taken (in any case)."""
        user = UserRecord(
            id=uuid.uuid4().hex,
            username=username,
            password_hash=password_hash,
            roles=_roles(roles),
            clusters=_unique(clusters),
            permissions=sorted(set(permissions)),
            created_at=self._clock(),
            created_by=created_by,
        )
        try:
            await self._records.create(self.key(username), user)
        except RevisionConflict:
            raise Refused(ErrorCode.CONFLICT, f"user {username!r} already exists") from None
        return user

    async def all(self) -> list[UserRecord]:
        users = [found.value for found in await self._records.all()]
        return sorted(users, key=lambda user: user.username.lower())

    async def disable(self, username: str) -> UserRecord:
        """Mark the user disabled; `NOT_FOUND`, or `CONFLICT` for the last enabled admin."""
        for _ in range(_WRITE_ATTEMPTS):
            found = await self._existing(username)
            if found.value.disabled:
                return found.value
            if Role.ADMIN in found.value.roles and not await self._other_admins(found.value):
                raise Refused(
                    ErrorCode.CONFLICT,
                    f"user {username!r} is the last enabled admin; create another admin first",
                )
            disabled = found.value.model_copy(update={"disabled": True})
            try:
                await self._records.update(found.key, disabled, found.revision)
            except RevisionConflict:
                continue  # changed meanwhile: look again
            return disabled
        raise Refused(ErrorCode.UNAVAILABLE, f"user {username!r} keeps changing; try again")

    async def update(
        self,
        username: str,
        roles: list[Role] | None,
        clusters: list[str] | None,
        permissions: list[Permission] | None,
    ) -> tuple[UserRecord, UserRecord]:
        """Replace what is given of the user's access; the user before and after.
        `NOT_FOUND`; `INVALID_MESSAGE` for permissions its roles may not hold; `CONFLICT`
        for the last enabled admin losing the admin role."""
        for _ in range(_WRITE_ATTEMPTS):
            found = await self._existing(username)
            before = found.value
            after = before.model_copy(
                update={
                    "roles": before.roles if roles is None else _roles(roles),
                    "clusters": before.clusters if clusters is None else _unique(clusters),
                    "permissions": (
                        before.permissions if permissions is None else sorted(set(permissions))
                    ),
                }
            )
            try:
                check_permissions(after.permissions, max(after.roles, key=lambda r: r.rank))
            except ValueError as exc:
                raise Refused(ErrorCode.INVALID_MESSAGE, str(exc)) from None
            demoted = Role.ADMIN in before.roles and Role.ADMIN not in after.roles
            if demoted and not before.disabled and not await self._other_admins(before):
                raise Refused(
                    ErrorCode.CONFLICT,
                    f"user {username!r} is the last enabled admin; make another admin first",
                )
            try:
                await self._records.update(found.key, after, found.revision)
            except RevisionConflict:
                continue  # changed meanwhile: look again
            return before, after
        raise Refused(ErrorCode.UNAVAILABLE, f"user {username!r} keeps changing; try again")

    async def replace_password_hash(self, user: UserRecord, password_hash: str) -> None:
        """Store a rehashed password (stronger parameters); skipped if the user changed."""
        found = await self._records.get(self.key(user.username))
        if found is None or found.value.password_hash != user.password_hash:
            return
        updated = found.value.model_copy(update={"password_hash": password_hash})
        try:
            await self._records.update(found.key, updated, found.revision)
        except RevisionConflict:
            return  # someone else wrote it; the next login rehashes again

    async def _existing(self, username: str) -> Versioned[UserRecord]:
        found = await self._records.get(self.key(username))
        if found is None:
            raise Refused(ErrorCode.NOT_FOUND, f"no user {username!r}")
        return found

    async def _other_admins(self, user: UserRecord) -> bool:
        return any(
            Role.ADMIN in other.roles and not other.disabled and other.id != user.id
            for other in await self.all()
        )


def _roles(roles: list[Role]) -> list[Role]:
    return sorted(set(roles), key=lambda role: role.rank)


def _unique(clusters: list[str]) -> list[str]:
    return list(dict.fromkeys(clusters))
