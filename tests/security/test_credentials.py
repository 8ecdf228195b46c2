"""Credentials that must not work: missing, malformed, unknown, expired, revoked, logged out
— each a 401 in the error shape with `WWW-Authenticate`; and the ones that must keep working."""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from mdhub.core import security
from mdhub.db.tables import api_keys, sessions
from mdhub.services import accounts
from mdhub.services import api_keys as key_service
from tests.security.support import (
    API,
    USER_PASSWORD,
    Served,
    assert_error,
    assert_unauthorized,
    basic,
    bearer,
)

ME = f"{API}/auth/me"
_names = itertools.count()


def _name(kind: str) -> str:
    return f"cred-{kind}-{next(_names)}"


def _header_forms(secret: str) -> dict[str, dict[str, str]]:
    """Every accepted way of presenting an API key."""
    return {
        "bearer": bearer(secret),
        "token": {"Authorization": f"token {secret}"},
        "x-api-key": {"X-API-Key": secret},
        "subscription-key": {"Ocp-Apim-Subscription-Key": secret},
        "basic": basic(secret),
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


UNKNOWN_KEY = security.new_secret(security.KEY_PREFIX)
UNKNOWN_TOKEN = security.new_secret(security.TOKEN_PREFIX)
BAD_HEADERS: dict[str, dict[str, str]] = {
    "bearer without a value": {"Authorization": "Bearer"},
    "bearer with blanks": {"Authorization": "Bearer    "},
    "basic not base64": {"Authorization": "Basic !!!"},
    "basic without a colon": {"Authorization": f"Basic {_b64('no-colon')}"},
    "basic without a password": {"Authorization": f"Basic {_b64('user:')}"},
    "basic not utf-8": {"Authorization": "Basic " + base64.b64encode(b"u:\xff\xfe").decode()},
    "unknown scheme": {"Authorization": f"Digest {UNKNOWN_KEY}"},
    "negotiate": {"Authorization": "Negotiate YIIF"},
    "no scheme": {"Authorization": UNKNOWN_KEY},
    "garbage token": {"Authorization": "Bearer garbage"},
    "garbage key header": {"X-API-Key": "not a key at all"},
    "garbage subscription key": {"Ocp-Apim-Subscription-Key": "x"},
    "key prefix, unknown": bearer(UNKNOWN_KEY),
    "token prefix, unknown": bearer(UNKNOWN_TOKEN),
    "prefix only": bearer(security.KEY_PREFIX),
    "unknown key in x-api-key": {"X-API-Key": UNKNOWN_KEY},
    "unknown key as basic password": basic(UNKNOWN_KEY),
    "very long": bearer(security.KEY_PREFIX + "A" * 20_000),
    "key and more": {"Authorization": f"Bearer {UNKNOWN_KEY} {UNKNOWN_KEY}"},
}


def _refused(served: Served, headers: dict[str, str], url: str = ME) -> None:
    assert_unauthorized(served.get(url, headers=headers))


def test_without_a_credential_every_api_route_answers_401(served: Served) -> None:
    for url in (ME, f"{API}/datasets", f"{API}/jobs", f"{API}/api-keys", f"{API}/users"):
        _refused(served, {}, url)
    _refused(served, {"X-API-Key": ""})
    # The credential is checked before the request is: an invalid body still gets the 401.
    response = served.post(f"{API}/datasets", json={"nonsense": True})
    assert_unauthorized(response)


@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_malformed_or_unknown_credentials_answer_401(
    served: Served, headers: dict[str, str]
) -> None:
    _refused(served, headers)
    _refused(served, headers, f"{API}/datasets")


def test_a_valid_key_works_in_every_accepted_form(served: Served) -> None:
    _, secret = served.key("default", _name("key"), "reader")
    for form, headers in _header_forms(secret).items():
        response = served.get(ME, headers=headers)
        assert response.status_code == 200, (form, response.text)
        assert response.json()["role"] == "reader"


def test_an_expired_login_token_answers_401(served: Served) -> None:
    username = _name("user")
    accounts.create_user(served.dbs, username, USER_PASSWORD, workspace="default", role="reader")
    token = served.login(username, USER_PASSWORD)
    assert served.get(ME, headers=bearer(token)).status_code == 200
    with served.dbs.meta.begin() as conn:
        conn.execute(
            update(sessions)
            .where(sessions.c.token_hash == security.digest(token))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    _refused(served, bearer(token))


def test_an_expired_api_key_answers_401(served: Served) -> None:
    created = key_service.create_key(
        served.dbs,
        "default",
        _name("key"),
        "writer",
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    secret = created["key"]
    assert served.get(ME, headers=bearer(secret)).status_code == 200
    with served.dbs.meta.begin() as conn:
        conn.execute(
            update(api_keys)
            .where(api_keys.c.id == created["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    for headers in _header_forms(secret).values():
        _refused(served, headers)


def test_a_key_replayed_after_revocation_answers_401(served: Served) -> None:
    _, admin = served.key("default", _name("admin"), "admin")
    key_id, secret = served.key("default", _name("key"), "writer")
    for headers in _header_forms(secret).values():
        assert served.get(f"{API}/datasets", headers=headers).status_code == 200
    revoked = served.request("DELETE", f"{API}/api-keys/{key_id}", headers=bearer(admin))
    assert revoked.status_code == 204, revoked.text
    for headers in _header_forms(secret).values():
        _refused(served, headers)
        _refused(served, headers, f"{API}/datasets")
    listed = served.get(f"{API}/api-keys", headers=bearer(admin)).json()["results"]
    assert [k["revoked"] for k in listed if k["id"] == key_id] == [True]
    again = served.request("DELETE", f"{API}/api-keys/{key_id}", headers=bearer(admin))
    assert_error(again, 404, "not_found")


def test_logging_out_revokes_only_that_token(served: Served) -> None:
    username = _name("user")
    accounts.create_user(served.dbs, username, USER_PASSWORD, workspace="default", role="writer")
    first, second = (served.login(username, USER_PASSWORD) for _ in range(2))
    _, key = served.key("default", _name("key"), "writer")
    out = served.post(f"{API}/auth/logout", headers=bearer(first))
    assert out.status_code == 204, out.text
    _refused(served, bearer(first))
    assert_unauthorized(served.post(f"{API}/auth/logout", headers=bearer(first)))
    assert served.get(ME, headers=bearer(second)).json()["username"] == username
    assert served.get(ME, headers=bearer(key)).status_code == 200
    # An API key cannot log out (it is revoked instead), and stays valid.
    assert_error(served.post(f"{API}/auth/logout", headers=bearer(key)), 400)
    assert served.get(ME, headers=bearer(key)).status_code == 200


def test_a_password_change_revokes_every_login_token(served: Served) -> None:
    username = _name("user")
    accounts.create_user(served.dbs, username, USER_PASSWORD, workspace="default", role="reader")
    first, second = (served.login(username, USER_PASSWORD) for _ in range(2))
    changed = served.post(
        f"{API}/auth/password",
        json={"current_password": USER_PASSWORD, "new_password": "a-new-password"},
        headers=bearer(first),
    )
    assert changed.status_code == 204, changed.text
    _refused(served, bearer(first))
    _refused(served, bearer(second))
    old = served.post(f"{API}/auth/login", json={"username": username, "password": USER_PASSWORD})
    assert_unauthorized(old)
    assert served.login(username, "a-new-password")


def test_a_removed_member_token_answers_401(served: Served) -> None:
    username = _name("user")
    accounts.create_user(served.dbs, username, USER_PASSWORD, workspace="default", role="reader")
    token = served.login(username, USER_PASSWORD)
    _, admin = served.key("default", _name("admin"), "admin")
    removed = served.request("DELETE", f"{API}/users/{username}", headers=bearer(admin))
    assert removed.status_code == 204, removed.text
    _refused(served, bearer(token))
