import re

import pytest
from django.core.cache import cache
from django.urls import reverse


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(client_for, collection):
    response = client_for("administrator").get(collection.get_absolute_url())

    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in response["Permissions-Policy"]
    html = response.content.decode()
    assert not re.search(r"<script>(?!</script>)", html), "inline scripts would be blocked by the CSP"
    assert not re.search(r"\son[a-z]+=\"", html), "inline event handlers would be blocked by the CSP"


@pytest.mark.django_db
def test_logins_are_limited_after_repeated_failures(client, personas, settings):
    settings.MASTERCOPY_LOGIN_FAILURES = 3
    url = reverse("login")
    for _ in range(3):
        assert client.post(url, {"username": "cataloguer", "password": "wrong"}).status_code == 200

    locked = client.post(url, {"username": "cataloguer", "password": "correct horse battery staple"})

    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_wrong_password_says_so_and_a_right_one_logs_in(client, personas):
    wrong = client.post(reverse("login"), {"username": "supervisor", "password": "nope"})
    right = client.post(
        reverse("login"), {"username": "supervisor", "password": "correct horse battery staple"}
    )

    assert "didn" in wrong.content.decode() or "correct username and password" in wrong.content.decode()
    assert right.status_code == 302
