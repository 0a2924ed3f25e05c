"""The OAuth ``state`` is checked: a redirect carrying another state (or none) is refused before any
code is exchanged, and no Company is written. The authorization server here is a small loopback
HTTP server that answers like Intuit's but returns the state it is told to."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from ledgerlink.core.models import AuditLog, Company
from ledgerlink.domain.companies.connect import connect_company
from ledgerlink.domain.errors import ServiceError
from ledgerlink.quickbooks import oauth


class FakeAuthorizationServer:
    def __init__(self, answer_state):
        self.answer_state = answer_state  # callable(sent_state) -> state to send back, or None
        self.token_calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlparse(self.path)
                if url.path == "/.well-known/openid-configuration":
                    body = json.dumps(
                        {
                            "authorization_endpoint": outer.base_url + "/authorize",
                            "token_endpoint": outer.base_url + "/token",
                            "revocation_endpoint": outer.base_url + "/revoke",
                        }
                    ).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif url.path == "/authorize":
                    query = parse_qs(url.query)
                    back = {"code": "AB11-code", "realmId": "9130350000000999"}
                    state = outer.answer_state(query["state"][0])
                    if state is not None:
                        back["state"] = state
                    self.send_response(302)
                    self.send_header("Location", query["redirect_uri"][0] + "?" + urlencode(back))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.send_error(404)

            def do_POST(self):
                outer.token_calls += 1
                self.send_error(500)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda sent: "attacker-chosen-state", id="other state"),
        pytest.param(lambda sent: sent[:-1], id="truncated state"),
        pytest.param(lambda sent: None, id="no state"),
    ],
)
def test_connect_refuses_a_redirect_with_the_wrong_state(answer):
    with FakeAuthorizationServer(answer) as server:
        with pytest.raises(ServiceError) as exc:
            connect_company(server.base_url, name="Hijacked Books", client_id="c", client_secret="s",
                            redirect_uri="http://127.0.0.1:8000/connections/callback")
        assert exc.value.status == 502
        assert exc.value.message == (
            "QuickBooks refused the connection: state_mismatch: "
            "the state returned by the authorization server is not ours"
        )
        assert server.token_calls == 0  # the code was never exchanged
    assert Company.objects.count() == 0
    assert AuditLog.objects.count() == 0


def test_the_state_is_random_per_authorization():
    seen = []

    def echo(sent):
        seen.append(sent)
        return sent

    with FakeAuthorizationServer(echo) as server:
        disc = oauth.discover(server.base_url)
        for _ in range(2):
            code, realm = oauth.authorize_without_browser(
                disc.authorization_endpoint, client_id="c", redirect_uri="http://127.0.0.1/cb"
            )
            assert (code, realm) == ("AB11-code", "9130350000000999")
    assert len(seen) == 2 and seen[0] != seen[1]
    assert all(len(s) >= 32 for s in seen)
