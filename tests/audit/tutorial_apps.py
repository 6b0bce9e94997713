"""Two small apps written the way popular tutorials write auth, and their audit targets.

Neither is a straw man: each line is what a widely copied tutorial does. The first follows
the shape of FastAPI's own OAuth2 + JWT tutorial (form login at /token, the docs' example
SECRET_KEY, 30-minute tokens, "Email already registered"); the second the typical blog
post (JSON login, SECRET = "secret", a refresh token in the body that never rotates,
"User not found" vs "Incorrect password", an ``is_admin`` field on the sign-up model).
Hashing uses bcrypt at cost 4 so the tests stay fast; tutorials use 12.
"""


from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import bcrypt
import jwt
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel

from authcourse.audit import Account, Login, ObjectRoute, Refresh, Registration, Route, Target


def _hash(password: str, *, truncate: bool = False) -> bytes:
    data = password.encode()[:72] if truncate else password.encode()
    return bcrypt.hashpw(data, bcrypt.gensalt(rounds=4))


# -- 1. The FastAPI-docs shape ----------------------------------------------------------------

SECRET_KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"
ALGORITHM = "HS256"
ACCESS_TOKEN_EXPIRE_MINUTES = 30


def docs_style_app() -> FastAPI:
    app = FastAPI()
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")
    users: dict[str, dict[str, Any]] = {
        "alice": {"username": "alice", "hashed_password": _hash("alice-secret-password"), "disabled": False},
        "bob": {"username": "bob", "hashed_password": _hash("bob-secret-password"), "disabled": False},
        "admin": {"username": "admin", "hashed_password": _hash("admin-secret-password"), "is_admin": True},
    }
    items = {1: {"owner": "alice", "title": "Alice's item"}, 2: {"owner": "bob", "title": "Bob's item"}}

    class UserCreate(BaseModel):
        username: str
        password: str

    def authenticate_user(username: str, password: str) -> dict[str, Any] | None:
        user = users.get(username)
        if not user:
            return None
        if not bcrypt_checkpw(password.encode(), user["hashed_password"]):
            return None
        return user

    async def get_current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> dict[str, Any]:
        credentials_exception = HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Could not validate credentials",
            headers={"WWW-Authenticate": "Bearer"},
        )
        try:
            payload = jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM])
            username = payload.get("sub")
        except jwt.InvalidTokenError:
            raise credentials_exception from None
        user = users.get(str(username))
        if user is None:
            raise credentials_exception
        return user

    @app.post("/token")
    async def login(form_data: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, str]:
        user = authenticate_user(form_data.username, form_data.password)
        if not user:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Incorrect username or password",
                headers={"WWW-Authenticate": "Bearer"},
            )
        expire = datetime.now(UTC) + timedelta(minutes=ACCESS_TOKEN_EXPIRE_MINUTES)
        token = jwt.encode({"sub": user["username"], "exp": expire}, SECRET_KEY, algorithm=ALGORITHM)
        return {"access_token": token, "token_type": "bearer"}

    @app.post("/users/")
    async def create_user(user: UserCreate) -> dict[str, str]:
        if user.username in users:
            raise HTTPException(status_code=400, detail="Username already registered")
        users[user.username] = {"username": user.username, "hashed_password": _hash(user.password)}
        return {"username": user.username}

    @app.get("/users/me/")
    async def read_users_me(current_user: Annotated[dict[str, Any], Depends(get_current_user)]) -> dict[str, str]:
        return {"username": current_user["username"]}

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, current_user: Annotated[dict[str, Any], Depends(get_current_user)]) -> dict[str, Any]:
        if item_id not in items:
            raise HTTPException(status_code=404, detail="Item not found")
        return items[item_id]

    @app.get("/admin/users")
    async def list_users(current_user: Annotated[dict[str, Any], Depends(get_current_user)]) -> list[str]:
        if not current_user.get("is_admin"):
            raise HTTPException(status_code=403, detail="Not enough permissions")
        return list(users)

    return app


def docs_style_target() -> Target:
    """What a reader of the README would write for the app above (20 lines)."""
    return Target(
        name="FastAPI-docs-style tutorial app",
        origin="https://tutorial.test",
        user=Account("alice", "alice-secret-password"),
        other_user=Account("bob", "bob-secret-password"),
        admin=Account("admin", "admin-secret-password"),
        login=Login("/token", form=True),
        registration=Registration("/users/", username_field="username", username_template="user{n}"),
        protected=Route("GET", "/users/me/"),
        admin_route=Route("GET", "/admin/users"),
        object_route=ObjectRoute("GET", "/items/{id}", object_id="1"),
        public_routes=frozenset({"POST /token", "POST /users/"}),
        # Count bcrypt checks instead of timing them: the same verdict on any machine.
        meter=_bcrypt_calls,
    )


# -- 2. The blog-post shape -------------------------------------------------------------------

SECRET = "secret"
_calls = {"bcrypt": 0}
_checkpw = bcrypt.checkpw


def _counting_checkpw(password: bytes, hashed: bytes) -> bool:
    _calls["bcrypt"] += 1
    return _checkpw(password, hashed)


def _bcrypt_calls() -> float:
    return float(_calls["bcrypt"])


bcrypt_checkpw = _counting_checkpw  # both apps call this instead of bcrypt.checkpw


def blog_style_app() -> FastAPI:
    app = FastAPI()
    users: dict[str, dict[str, Any]] = {}

    class Register(BaseModel):
        username: str
        password: str
        is_admin: bool = False  # "so the admin panel can flip it later"

    class LoginBody(BaseModel):
        username: str
        password: str

    class RefreshBody(BaseModel):
        refresh_token: str

    def make_token(username: str, kind: str, minutes: int) -> str:
        payload = {"sub": username, "type": kind, "exp": datetime.now(UTC) + timedelta(minutes=minutes)}
        return jwt.encode(payload, SECRET, algorithm="HS256")

    async def current_user(token: Annotated[str, Depends(OAuth2PasswordBearer(tokenUrl="login"))]) -> dict[str, Any]:
        try:
            payload = jwt.decode(token, SECRET, algorithms=["HS256"])
        except jwt.PyJWTError:
            raise HTTPException(401, "Invalid token", headers={"WWW-Authenticate": "Bearer"}) from None
        return users[payload["sub"]]

    @app.post("/register", status_code=201)
    async def register(body: Register) -> dict[str, Any]:
        if body.username in users:
            raise HTTPException(400, "User already exists")
        users[body.username] = {
            "username": body.username,
            "password": _hash(body.password, truncate=True),  # "bcrypt only takes 72 bytes"
            "is_admin": body.is_admin,
        }
        return {"username": body.username, "is_admin": body.is_admin}

    @app.post("/login")
    async def login(body: LoginBody) -> dict[str, str]:
        user = users.get(body.username)
        if user is None:
            raise HTTPException(404, "User not found")
        if not bcrypt_checkpw(body.password.encode()[:72], user["password"]):
            raise HTTPException(401, "Incorrect password")
        return {
            "access_token": make_token(body.username, "access", 30),
            "refresh_token": make_token(body.username, "refresh", 60 * 24 * 7),
            "token_type": "bearer",
        }

    @app.post("/refresh")
    async def refresh(body: RefreshBody) -> dict[str, str]:
        try:
            payload = jwt.decode(body.refresh_token, SECRET, algorithms=["HS256"])
        except jwt.PyJWTError:
            raise HTTPException(401, "Invalid refresh token") from None
        return {"access_token": make_token(payload["sub"], "access", 30), "refresh_token": body.refresh_token}

    @app.get("/me")
    async def me(user: Annotated[dict[str, Any], Depends(current_user)]) -> dict[str, Any]:
        return {"username": user["username"], "is_admin": user["is_admin"]}

    @app.get("/admin/stats")
    async def admin_stats(user: Annotated[dict[str, Any], Depends(current_user)]) -> dict[str, int]:
        if not user["is_admin"]:
            raise HTTPException(403, "Admins only")
        return {"users": len(users)}

    users.update(
        {
            name: {"username": name, "password": _hash(f"{name}-long-password-123"), "is_admin": name == "root"}
            for name in ("alice", "bob", "root")
        }
    )
    return app


def blog_style_target() -> Target:
    return Target(
        name="blog-post-style tutorial app",
        origin="https://blog.test",
        user=Account("alice", "alice-long-password-123"),
        other_user=Account("bob", "bob-long-password-123"),
        admin=Account("root", "root-long-password-123"),
        login=Login("/login"),
        registration=Registration("/register", username_field="username", username_template="reader{n}"),
        refresh=Refresh("/refresh", body_field="refresh_token"),
        protected=Route("GET", "/me"),
        admin_route=Route("GET", "/admin/stats"),
        public_routes=frozenset({"POST /login", "POST /register", "POST /refresh"}),
        meter=_bcrypt_calls,
    )
