"""Gateway faults (lower-case envelope) and the OAuth endpoints (raw HTTP)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

GATEWAY_KEYS = {"warnings", "intuitObject", "fault", "report", "queryResponse", "batchItemResponse",
                "attachableResponse", "syncErrorResponse", "requestId", "time", "status", "cdcresponse"}


def gateway_error(r, status, message, code, type_):
    assert r.status_code == status, r.text
    assert "intuit_tid" in r.headers
    body = r.json()
    assert set(body) == GATEWAY_KEYS
    assert isinstance(body["time"], int)
    assert body["fault"]["type"] == type_
    [err] = body["fault"]["error"]
    assert set(err) == {"message", "detail", "code", "element"}
    assert (err["message"], err["code"], err["element"]) == (message, code, None)
    return err


def basic(cid="app-1", secret="s3cret"):
    return {"Authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()}


def test_missing_or_empty_bearer_is_003202_seed_error(realm, http):
    msg = "message=BadRequest; errorCode=003202; statusCode=400"
    gateway_error(http.get(realm.path("customer/1")), 400, msg, "3202", "AUTHENTICATION")
    gateway_error(http.get(realm.path("customer/1"), headers={"Authorization": "Bearer"}), 400, msg, "3202",
                  "AUTHENTICATION")
    gateway_error(http.get("/v3/company//customer/1", headers=realm.headers), 400, msg, "3202", "AUTHENTICATION")
    log = realm.requests_log()
    assert [(e["status"], e["fault_code"]) for e in log] == [(400, "3202"), (400, "3202")]


def test_expired_and_unknown_token_401(realm, http):
    assert realm.control("POST", "expire-tokens").json()["expired_access_tokens"] == 1
    r = realm.get("customer/1")
    err = gateway_error(r, 401, "message=AuthenticationFailed; errorCode=003200; statusCode=401", "3200",
                        "AUTHENTICATION")
    assert err["detail"] == f"Token expired: {realm.token[:50]}"
    assert r.headers["www-authenticate"] == 'Bearer realm="Intuit", error="invalid_token"'
    r = http.get(realm.path("customer/1"), headers={"Authorization": "Bearer abc"})
    err = gateway_error(r, 401, "message=AuthenticationFailed; errorCode=003200; statusCode=401", "3200",
                        "AUTHENTICATION")
    assert err["detail"] == "Malformed bearer token: too short or too long"


def test_token_for_another_realm_403(realm, make_realm, http):
    other = make_realm()
    r = http.get(other.path("customer/1"), headers=realm.headers)
    err = gateway_error(r, 403, "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403", "3100",
                        "SERVICE")
    assert err["detail"] is None


def test_discovery_document(http, sandbox):
    for path in ("/.well-known/openid-configuration", "/.well-known/openid_configuration/",
                 "/.well-known/openid_sandbox_configuration/"):
        doc = http.get(path).json()
        base = sandbox.base_url
        assert doc["authorization_endpoint"] == f"{base}/connect/oauth2"
        assert doc["token_endpoint"] == f"{base}/oauth2/v1/tokens/bearer"
        assert doc["revocation_endpoint"] == f"{base}/oauth2/v1/tokens/revoke"
        assert doc["userinfo_endpoint"] == f"{base}/v1/openid_connect/userinfo"
        assert doc["jwks_uri"] == f"{base}/op/v1/jwks" and doc["issuer"] == f"{base}/op/v1"


def authorize(http, **extra):
    params = {"client_id": "app-1", "redirect_uri": "https://app.example/cb", "response_type": "code",
              "scope": "com.intuit.quickbooks.accounting", "state": "xyz", **extra}
    r = http.get("/connect/oauth2", params=params)
    assert r.status_code == 302
    loc = urlsplit(r.headers["location"])
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == "https://app.example/cb"
    return {k: v[0] for k, v in parse_qs(loc.query).items()}


def test_code_flow_refresh_rotation_and_revoke(http, make_realm):
    q = authorize(http)
    assert set(q) == {"code", "state", "realmId"} and q["state"] == "xyz"
    realm_id = q["realmId"]
    # the new realm has QBO's limits on
    assert http.get(f"/_sandbox/realms/{realm_id}").json()["config"]["limits"] == {
        "per_minute": 500, "concurrent": 10, "batch_per_minute": 40}
    form = {"grant_type": "authorization_code", "code": q["code"], "redirect_uri": "https://app.example/cb"}
    r = http.post("/oauth2/v1/tokens/bearer", data=form, headers=basic())
    assert r.status_code == 200 and r.headers["content-type"] == "application/json;charset=utf-8"
    tok = r.json()
    assert set(tok) == {"token_type", "access_token", "refresh_token", "expires_in", "x_refresh_token_expires_in"}
    assert (tok["token_type"], tok["expires_in"], tok["x_refresh_token_expires_in"]) == ("bearer", 3600, 8640000)
    # code is single use
    r = http.post("/oauth2/v1/tokens/bearer", data=form, headers=basic())
    assert (r.status_code, r.json()) == (400, {"error": "invalid_grant"})
    # API works with the token... unless the code was replayed: Intuit then kills the grant's tokens
    r = http.get(f"/v3/company/{realm_id}/companyinfo/{realm_id}", headers={"Authorization": f"Bearer {tok['access_token']}"})
    assert r.status_code == 401
    # a second authorization, used once
    q = authorize(http, realm_id=realm_id)
    assert q["realmId"] == realm_id
    tok = http.post("/oauth2/v1/tokens/bearer", headers=basic(), data={
        "grant_type": "authorization_code", "code": q["code"], "redirect_uri": "https://app.example/cb"}).json()
    r = http.get(f"/v3/company/{realm_id}/companyinfo/{realm_id}", headers={"Authorization": f"Bearer {tok['access_token']}"})
    assert r.status_code == 200
    # refresh rotates
    r = http.post("/oauth2/v1/tokens/bearer", headers=basic(),
                  data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    new = r.json()
    assert r.status_code == 200 and new["refresh_token"] != tok["refresh_token"]
    r = http.post("/oauth2/v1/tokens/bearer", headers=basic(),
                  data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    assert (r.status_code, r.json()) == (400, {"error": "invalid_grant"})
    assert "intuit_tid" in r.headers
    # bound to the client
    r = http.post("/oauth2/v1/tokens/bearer", headers=basic("other-app"),
                  data={"grant_type": "refresh_token", "refresh_token": new["refresh_token"]})
    assert r.json() == {"error": "invalid_grant", "error_description": "Incorrect Token type or clientID"}
    r = http.post("/oauth2/v1/tokens/bearer", headers=basic(),
                  data={"grant_type": "refresh_token", "refresh_token": "AB11garbage"})
    assert r.json() == {"error": "invalid_grant", "error_description": "Incorrect or invalid refresh token"}
    r = http.post("/oauth2/v1/tokens/bearer", data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert (r.status_code, r.json()) == (401, {"error": "invalid_client"})
    # revoke kills both tokens of the grant
    r = http.post("/oauth2/v1/tokens/revoke", json={"token": new["refresh_token"]}, headers=basic())
    assert r.status_code == 200
    r = http.get(f"/v3/company/{realm_id}/companyinfo/{realm_id}", headers={"Authorization": f"Bearer {new['access_token']}"})
    assert r.status_code == 401
    r = http.post("/oauth2/v1/tokens/bearer", headers=basic(),
                  data={"grant_type": "refresh_token", "refresh_token": new["refresh_token"]})
    assert r.json() == {"error": "invalid_grant"}


def test_token_lifetimes_configurable_and_refresh_expiry(make_realm, http):
    rc = make_realm(config={"access_token_ttl": 60, "refresh_token_ttl": 120})
    tok = rc.control("POST", "tokens", {"client_id": "c1"}).json()
    assert (tok["expires_in"], tok["x_refresh_token_expires_in"]) == (60, 120)
    assert rc.control("POST", "expire-tokens", {"refresh": True}).json()["expired_refresh_tokens"] == 2
    r = http.post("/oauth2/v1/tokens/bearer", headers=basic("c1"),
                  data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    assert r.json() == {"error": "invalid_grant", "error_description": "Incorrect or invalid refresh token"}


def test_authorize_errors(http):
    r = http.get("/connect/oauth2", params={"client_id": "a"})
    assert r.status_code == 400
    r = http.get("/connect/oauth2", params={"client_id": "a", "redirect_uri": "https://x/cb", "response_type": "token",
                                            "scope": "s", "state": "1"})
    assert r.status_code == 302 and "error=unsupported_response_type" in r.headers["location"]
