"""OAuth 2.0 as Intuit runs it: discovery, authorize (instant consent), token, revoke, userinfo.

Tokens are bound to the client (client_id) that obtained them and to one realm. Refresh works as Intuit's does:
the same refresh token value comes back until that value is ``refresh_token_rotation_s`` old (realm config, default
86,400 s: "about a day"), then a new value replaces it and the old one answers invalid_grant. With 0 every refresh
rotates, the strictest test of a client that must store the newest token.
"""

from __future__ import annotations

import base64
import secrets
import string
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from .store import Realm, Store
from .util import now_ts

CODE_TTL = 600
HARD_EXPIRY = 5 * 365 * 86400  # refresh tokens: 5-year maximum lifetime (Intuit, Nov 2025)

SCOPES = ["com.intuit.quickbooks.accounting", "com.intuit.quickbooks.payment", "openid", "profile", "email",
          "phone", "address"]


def _rand(n: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_access_token() -> str:
    # Shaped like Intuit's JWE access tokens (header + 4 more parts), opaque to clients.
    return ("eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.." + _rand(22) + "." + _rand(600) + "."
            + _rand(22))


def new_refresh_token() -> str:
    return "AB11" + str(int(now_ts())) + _rand(36)


def new_code() -> str:
    return "AB11" + str(int(now_ts())) + _rand(30)


def discovery(base: str) -> dict:
    return {
        "issuer": f"{base}/op/v1",
        "authorization_endpoint": f"{base}/connect/oauth2",
        "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
        "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
        "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke",
        "jwks_uri": f"{base}/op/v1/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES,
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
    }


def parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip()).decode("utf-8")
    except Exception:
        return None
    if ":" not in raw:
        return None
    cid, _, secret = raw.partition(":")
    if not cid:
        return None
    return cid, secret


class OAuth:
    def __init__(self, store: Store, create_realm):
        self.store = store
        self.create_realm = create_realm  # callable(realm_id|None) -> Realm

    # -- token minting ------------------------------------------------------------------------------
    def mint(self, realm: Realm, client_id: str, grant_id: str | None = None, scope: str = "") -> dict:
        now = now_ts()
        if grant_id is None:
            grant_id = _rand(16)
            self.store.grants[grant_id] = {"revoked": False, "realm_id": realm.realm_id, "client_id": client_id,
                                           "created": now}
            self.store.save_grant(grant_id)
        at, rt = new_access_token(), new_refresh_token()
        a_ttl = int(realm.config.get("access_token_ttl", 3600))
        r_ttl = int(realm.config.get("refresh_token_ttl", 8640000))
        base = {"realm_id": realm.realm_id, "client_id": client_id, "grant_id": grant_id, "issued": now,
                "scope": scope, "revoked": False}
        self.store.tokens[at] = dict(base, type="access", expires_at=now + a_ttl)
        self.store.tokens[rt] = dict(base, type="refresh", expires_at=now + r_ttl, rotated=False)
        self.store.save_token(at)
        self.store.save_token(rt)
        return {"token_type": "bearer", "access_token": at, "refresh_token": rt, "expires_in": a_ttl,
                "x_refresh_token_expires_in": r_ttl}

    def mint_access(self, realm: Realm, client_id: str, refresh_token: str, info: dict) -> dict:
        """A new access token next to the same refresh token (the value is younger than the rotation period)."""
        now = now_ts()
        at = new_access_token()
        a_ttl = int(realm.config.get("access_token_ttl", 3600))
        self.store.tokens[at] = {"realm_id": realm.realm_id, "client_id": client_id, "grant_id": info["grant_id"],
                                 "issued": now, "scope": info.get("scope", ""), "revoked": False, "type": "access",
                                 "expires_at": now + a_ttl}
        self.store.save_token(at)
        return {"token_type": "bearer", "access_token": at, "refresh_token": refresh_token, "expires_in": a_ttl,
                "x_refresh_token_expires_in": max(0, int(info["expires_at"] - now))}

    def grant_alive(self, info: dict) -> bool:
        g = self.store.grants.get(info.get("grant_id"))
        return bool(g) and not g.get("revoked") and not info.get("revoked")

    def access_info(self, token: str) -> tuple[str, dict | None]:
        """('ok'|'expired'|'unknown', info)."""
        info = self.store.tokens.get(token)
        if info is None or info.get("type") != "access" or not self.grant_alive(info):
            return "unknown", info
        if info["expires_at"] <= now_ts():
            return "expired", info
        return "ok", info

    # -- endpoints ----------------------------------------------------------------------------------
    def authorize(self, query: dict) -> tuple[int, dict, str]:
        """Returns (status, headers, text body)."""
        client_id = query.get("client_id")
        redirect_uri = query.get("redirect_uri")
        if not client_id or not redirect_uri:
            return 400, {}, "invalid_request: client_id and redirect_uri are required"
        state = query.get("state")

        def redirect(params: dict) -> tuple[int, dict, str]:
            parts = urlsplit(redirect_uri)
            q = parts.query + ("&" if parts.query else "") + urlencode(params)
            return 302, {"location": urlunsplit((parts.scheme, parts.netloc, parts.path, q, parts.fragment))}, ""

        if query.get("response_type") != "code":
            return redirect({"error": "unsupported_response_type", **({"state": state} if state else {})})
        scope = query.get("scope") or ""
        if not scope.strip():
            return redirect({"error": "invalid_scope", **({"state": state} if state else {})})
        realm_id = query.get("realm_id")
        realm = self.store.realms.get(realm_id) if realm_id else None
        if realm is None:
            realm = self.create_realm(realm_id)
        code = new_code()
        self.store.tokens[code] = {"type": "code", "realm_id": realm.realm_id, "client_id": client_id,
                                   "redirect_uri": redirect_uri, "scope": scope, "expires_at": now_ts() + CODE_TTL,
                                   "used": False, "grant_id": None}
        self.store.save_token(code)
        params = {"code": code}
        if state is not None:
            params["state"] = state
        params["realmId"] = realm.realm_id
        return redirect(params)

    def token(self, headers: dict, form: dict) -> tuple[int, dict]:
        creds = parse_basic(headers.get("authorization"))
        if creds is None and form.get("client_id"):
            creds = (form["client_id"], form.get("client_secret", ""))
        if creds is None:
            return 401, {"error": "invalid_client"}
        client_id = creds[0]
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            code = form.get("code")
            info = self.store.tokens.get(code) if code else None
            if info is None or info.get("type") != "code" or info["expires_at"] <= now_ts():
                return 400, {"error": "invalid_grant"}
            if info["client_id"] != client_id:
                return 400, {"error": "invalid_grant", "error_description": "Incorrect Token type or clientID"}
            if info["used"]:
                # Intuit: exchanging a code twice invalidates the tokens from that code.
                if info.get("grant_id") in self.store.grants:
                    self.store.grants[info["grant_id"]]["revoked"] = True
                    self.store.save_grant(info["grant_id"])
                return 400, {"error": "invalid_grant"}
            if form.get("redirect_uri") and form["redirect_uri"] != info["redirect_uri"]:
                return 400, {"error": "invalid_grant", "error_description": "Invalid redirect_uri"}
            realm = self.store.realms.get(info["realm_id"])
            if realm is None:
                return 400, {"error": "invalid_grant"}
            info["used"] = True
            body = self.mint(realm, client_id, scope=info.get("scope", ""))
            info["grant_id"] = self.store.tokens[body["access_token"]]["grant_id"]
            self.store.save_token(code)
            return 200, self._with_hard_expiry(headers, body, info["grant_id"])
        if grant_type == "refresh_token":
            rt = form.get("refresh_token")
            info = self.store.tokens.get(rt) if rt else None
            if info is None or info.get("type") != "refresh":
                return 400, {"error": "invalid_grant", "error_description": "Incorrect or invalid refresh token"}
            if info["client_id"] != client_id:
                return 400, {"error": "invalid_grant", "error_description": "Incorrect Token type or clientID"}
            if info.get("rotated") or not self.grant_alive(info):
                return 400, {"error": "invalid_grant"}
            if info["expires_at"] <= now_ts():
                return 400, {"error": "invalid_grant", "error_description": "Incorrect or invalid refresh token"}
            realm = self.store.realms.get(info["realm_id"])
            if realm is None:
                return 400, {"error": "invalid_grant"}
            rotation = float(realm.config.get("refresh_token_rotation_s", 86400) or 0)
            if rotation and now_ts() - float(info.get("issued", 0)) < rotation:
                body = self.mint_access(realm, client_id, rt, info)
            else:
                info["rotated"] = True
                self.store.save_token(rt)
                body = self.mint(realm, client_id, grant_id=info["grant_id"], scope=info.get("scope", ""))
            return 200, self._with_hard_expiry(headers, body, info["grant_id"])
        return 400, {"error": "unsupported_grant_type"}

    def _with_hard_expiry(self, headers: dict, body: dict, grant_id: str) -> dict:
        if headers.get("x-include-refresh-token-hard-expires-in", "").lower() == "true":
            g = self.store.grants.get(grant_id, {})
            body["x_refresh_token_hard_expires_in"] = int(g.get("created", now_ts()) + HARD_EXPIRY - now_ts())
        return body

    def revoke(self, headers: dict, body: dict | None) -> tuple[int, dict | None]:
        creds = parse_basic(headers.get("authorization"))
        if creds is None:
            return 401, {"error": "invalid_client"}
        token = (body or {}).get("token")
        if not token:
            return 400, {"error": "invalid_request"}
        info = self.store.tokens.get(token)
        if info and info.get("client_id") == creds[0] and info.get("grant_id") in self.store.grants:
            self.store.grants[info["grant_id"]]["revoked"] = True
            self.store.save_grant(info["grant_id"])
        return 200, None

    def userinfo(self, headers: dict) -> tuple[int, dict]:
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        state, info = self.access_info(token)
        if state != "ok":
            return 401, {"error": "invalid_token"}
        return 200, {"sub": info["grant_id"], "email": "sandbox.user@example.com", "emailVerified": True,
                     "givenName": "Sandbox", "familyName": "User", "realmid": info["realm_id"]}


def parse_form(body: bytes) -> dict:
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
