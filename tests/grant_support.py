"""Users with a cluster grant, made through the gateway as an admin would, and logged in."""

import httpx

from tests.support import bearer


async def granted(
    http: httpx.AsyncClient,
    admin_token: str,
    name: str,
    clusters: list[str],
    role: str = "viewer",
    permissions: tuple[str, ...] = (),
) -> str:
    """The access token of a new user `name` with `role` (and `permissions`), granted
    only `clusters`."""
    password = f"{name}-password-1"
    body = {
        "username": name,
        "password": password,
        "roles": [role],
        "clusters": clusters,
        "permissions": list(permissions),
    }
    made = await http.post("/api/auth/users", json=body, headers=bearer(admin_token))
    assert made.status_code == 201, made.text
    tokens = await http.post("/api/auth/token", json={"username": name, "password": password})
    assert tokens.status_code == 200, tokens.text
    token: str = tokens.json()["access_token"]
    return token
