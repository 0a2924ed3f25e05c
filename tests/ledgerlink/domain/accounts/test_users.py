"""Users and roles through ``domain.accounts.users`` (the Users page calls these): each refusal
names the field and changes nothing; each change is audited once."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse

from ledgerlink.core.models import AuditLog, UserProfile
from ledgerlink.domain.accounts.users import create_user, ensure_user, set_user_active, set_user_role
from ledgerlink.domain.errors import ServiceError

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-passphrase-77"


def _audit(action):
    return list(AuditLog.objects.filter(action=action).order_by("id").values_list("object_id", "actor_label", "data"))


def test_create_user_with_a_role_is_audited_once():
    admin = create_user(username="root", password=PASSWORD, role="admin")
    user = create_user(username=" ann ", email="ann@example.com", password=PASSWORD, role="operator", actor=admin)
    assert (user.username, user.email, user.profile.role, user.is_active) == ("ann", "ann@example.com", "operator", True)
    assert user.check_password(PASSWORD)
    assert _audit("user.create") == [(str(admin.pk), "system", {"role": "admin"}),
                                     (str(user.pk), "root", {"role": "operator"})]


@pytest.mark.parametrize(("fields", "field", "status", "message"), [
    ({"username": ""}, "username", 422, "is required"),
    ({"username": "Ann"}, "username", 409, "A user with this name exists."),
    ({"password": "short"}, "password", 422, "This password is too short. It must contain at least 8 characters."),
    ({"password": "password123"}, "password", 422, "This password is too common."),
    ({"role": "owner"}, "role", 422, "Unknown role: choose one of viewer, operator, admin"),
    ({"email": "not-an-email"}, "email", 422, "Enter a valid email address."),
])
def test_create_user_refuses_bad_input_and_writes_nothing(fields, field, status, message):
    create_user(username="ann", password=PASSWORD, role="viewer")
    with pytest.raises(ServiceError) as exc:
        create_user(**{"username": "bob", "password": PASSWORD, "role": "viewer", **fields})
    assert (exc.value.field, exc.value.status, exc.value.message) == (field, status, message)
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["ann"]
    assert AuditLog.objects.filter(action="user.create").count() == 1


def test_role_and_activation_change_but_never_your_own():
    admin = create_user(username="root", password=PASSWORD, role="admin")
    ann = create_user(username="ann", password=PASSWORD, role="operator")
    set_user_role(ann.pk, "viewer", actor=admin)
    set_user_active(ann.pk, False, actor=admin)
    ann.refresh_from_db()
    assert (ann.profile.role, ann.is_active) == ("viewer", False)
    for change in (lambda: set_user_role(admin.pk, "viewer", actor=admin),
                   lambda: set_user_active(admin.pk, False, actor=admin)):
        with pytest.raises(ServiceError) as exc:
            change()
        assert (exc.value.status, exc.value.message) == (409, "You cannot change your own role or deactivate yourself.")
    admin.refresh_from_db()
    assert (admin.profile.role, admin.is_active) == ("admin", True)
    with pytest.raises(ServiceError) as exc:
        set_user_role(ann.pk, "owner", actor=admin)
    assert exc.value.field == "role"
    with pytest.raises(ServiceError) as exc:
        set_user_active(999999, True, actor=admin)
    assert exc.value.status == 404
    assert _audit("user.role") == [(str(ann.pk), "root", {"old": "operator", "new": "viewer"})]
    assert _audit("user.deactivate") == [(str(ann.pk), "root", {})]


def test_ensure_user_creates_then_resets_password_and_role():
    first = ensure_user("demo", role="viewer", password=PASSWORD, email="demo@localhost", actor_label="demo")
    again = ensure_user("demo", role="admin", password="another-long-phrase-88", staff=True, actor_label="demo")
    assert first.pk == again.pk
    again.refresh_from_db()
    assert (again.is_staff, again.check_password("another-long-phrase-88")) == (True, True)
    assert UserProfile.objects.get(user=again).role == "admin"
    assert list(AuditLog.objects.order_by("id").values_list("action", "actor_label")) == [
        ("user.create", "demo"), ("user.reset", "demo")]


# --- names that differ only by Unicode form (issue 18) -----------------------------------------------

FULL_WIDTH = "ｖｉｅｗｅｒ"  # NFKC: "viewer"
SAME_NAME = (
    f"A user with this name exists: {FULL_WIDTH!r} is the same name as 'viewer' "
    "(names are compared after Unicode normalisation, NFKC, ignoring case)."
)


def _users():
    return sorted(get_user_model().objects.values_list("username", flat=True))


def test_a_name_equal_to_an_existing_one_once_normalised_is_refused():
    create_user(username="viewer", password=PASSWORD, role="viewer")
    audit = AuditLog.objects.count()
    with pytest.raises(ServiceError) as exc:
        create_user(username=FULL_WIDTH, password=PASSWORD, role="admin")
    assert (exc.value.field, exc.value.status, exc.value.message) == ("username", 409, SAME_NAME)
    with pytest.raises(ServiceError) as exc:
        create_user(username="ＶＩＥＷＥＲ", password=PASSWORD, role="admin")
    assert exc.value.status == 409
    assert _users() == ["viewer"]
    assert AuditLog.objects.count() == audit
    # a new full-width name is stored as Django signs in with it
    assert create_user(username="ｎｅｗｂｉｅ", password=PASSWORD, role="viewer").username == "newbie"


def test_the_users_page_refuses_it_with_the_message(client):
    admin = create_user(username="boss", password=PASSWORD, role="admin")
    create_user(username="viewer", password=PASSWORD, role="viewer")
    client.force_login(admin)
    resp = client.post(reverse("web:user_new"), {"username": FULL_WIDTH, "email": "", "password": PASSWORD,
                                                 "role": "admin"})
    assert resp.status_code == 422
    assert "is the same name as" in resp.content.decode()
    assert _users() == ["boss", "viewer"]


def test_createsuperuser_refuses_it_with_the_message():
    create_user(username="viewer", password=PASSWORD, role="viewer")
    with pytest.raises(CommandError) as exc:
        call_command("createsuperuser", interactive=False, username=FULL_WIDTH, email="")
    assert str(exc.value) == f"Error: {SAME_NAME}"
    assert _users() == ["viewer"]
    call_command("createsuperuser", interactive=False, username="root", email="", verbosity=0)
    assert _users() == ["root", "viewer"]
