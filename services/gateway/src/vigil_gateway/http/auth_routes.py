"""`/api/auth/*` and `/.well-known/jwks.json`: the auth service's operations over HTTP.

Login and refresh need no credentials; logout and `me` need any; users and keys
need admin. Each route is one `ctl.call` to the auth service, with the caller's token:
the auth service checks the role again itself.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from vigil.access import Principal, Role
from vigil.messages import (
    ApiKeyCreated,
    ApiKeyDraft,
    ApiKeyList,
    ApiKeyView,
    CreateApiKey,
    CreateUser,
    DisableUser,
    EndSession,
    ErrorCode,
    ListApiKeys,
    ListUsers,
    Login,
    RefreshSession,
    RevokeApiKey,
    TokensIssued,
    UpdateUser,
    UserAccess,
    UserDraft,
    UserList,
    UserView,
)
from vigil.operations import Auth
from vigil_gateway.errors import AuthUnavailable
from vigil_gateway.http.http_auth import BusToken, RoleRequired, authenticated, refusal
from vigil_gateway.http.service_calls import call_service, from_path
from vigil_gateway.http.strict_json import StrictJsonRoute
from vigil_gateway.replica.gateway import Gateway

Admin = Annotated[Principal, Depends(RoleRequired(Role.ADMIN))]
Anyone = Annotated[Principal, Depends(authenticated)]


class Credentials(BaseModel):
    username: str = Field(max_length=128)
    password: str = Field(max_length=1024, repr=False)


class RefreshToken(BaseModel):
    refresh_token: str = Field(max_length=512, repr=False)


def auth_router() -> APIRouter:
    router = APIRouter(route_class=StrictJsonRoute)

    @router.post("/api/auth/token")
    async def login(body: Credentials, request: Request) -> TokensIssued:
        """Username and password for an access token (JWT) and a refresh token."""
        return await call_service(
            request, Auth.LOGIN, Login(**body.model_dump(), client=_client(request))
        )

    @router.post("/api/auth/refresh")
    async def refresh(body: RefreshToken, request: Request) -> TokensIssued:
        """A refresh token for new tokens; the old refresh token is spent."""
        message = RefreshSession(refresh_token=body.refresh_token, client=_client(request))
        return await call_service(request, Auth.REFRESH, message)

    @router.post("/api/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
    async def logout(principal: Anyone, token: BusToken, request: Request) -> Response:
        """End the session of this access token: every socket of it is closed."""
        if principal.session_id is None:
            raise refusal(ErrorCode.INVALID_MESSAGE, "only a session's access token can log out")
        await call_service(request, Auth.LOGOUT, EndSession(), token)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/api/auth/me")
    async def me(principal: Anyone) -> Principal:
        return principal

    @router.get("/api/auth/users")
    async def list_users(admin: Admin, token: BusToken, request: Request) -> UserList:
        return await call_service(request, Auth.LIST_USERS, ListUsers(), token)

    @router.post("/api/auth/users", status_code=status.HTTP_201_CREATED)
    async def create_user(
        body: UserDraft, admin: Admin, token: BusToken, request: Request
    ) -> UserView:
        return await call_service(request, Auth.CREATE_USER, CreateUser(**body.model_dump()), token)

    @router.post("/api/auth/users/{username}/disable")
    async def disable_user(
        username: str, admin: Admin, token: BusToken, request: Request
    ) -> UserView:
        message = from_path(DisableUser, {"username": username})
        return await call_service(request, Auth.DISABLE_USER, message, token)

    @router.patch("/api/auth/users/{username}")
    async def update_user(
        username: str, body: UserAccess, admin: Admin, token: BusToken, request: Request
    ) -> UserView:
        """Replace the roles, clusters or permissions given; a narrowing ends the user's
        sessions (their sockets close; they sign in again with what they have now)."""
        fields = {"username": username, **body.model_dump(exclude_none=True)}
        message = from_path(UpdateUser, fields)
        return await call_service(request, Auth.UPDATE_USER, message, token)

    @router.get("/api/auth/keys")
    async def list_keys(admin: Admin, token: BusToken, request: Request) -> ApiKeyList:
        return await call_service(request, Auth.LIST_API_KEYS, ListApiKeys(), token)

    @router.post("/api/auth/keys", status_code=status.HTTP_201_CREATED)
    async def create_key(
        body: ApiKeyDraft, admin: Admin, token: BusToken, request: Request
    ) -> ApiKeyCreated:
        """A new API key; the secret is in this answer only."""
        message = CreateApiKey(**body.model_dump())
        return await call_service(request, Auth.CREATE_API_KEY, message, token)

    @router.delete("/api/auth/keys/{key_id}")
    async def revoke_key(
        key_id: str, admin: Admin, token: BusToken, request: Request
    ) -> ApiKeyView:
        message = from_path(RevokeApiKey, {"key_id": key_id})
        return await call_service(request, Auth.REVOKE_API_KEY, message, token)

    @router.get("/.well-known/jwks.json")
    async def jwks(request: Request) -> dict[str, Any]:
        """The public keys that verify Vigil's access tokens."""
        gateway: Gateway = request.app.state.gateway
        try:
            await gateway.identity.own_keys.refresh(only_if_older_than_s=60.0)
        except AuthUnavailable as exc:
            raise refusal(ErrorCode.UNAVAILABLE, exc.reason) from None
        return {"keys": gateway.identity.own_keys.documents()}

    return router


def _client(request: Request) -> str:
    return request.client.host if request.client else ""
