import pytest
from django.core.management import call_command
from django.urls import reverse

from catalogue.importing import Importer
from catalogue.models import ImportBatch
from tests.conftest import jpeg_bytes


@pytest.fixture
def image(collection):
    import io

    importer = Importer(collection, source=ImportBatch.Source.UPLOAD)
    result = importer.add("a.jpg", io.BytesIO(jpeg_bytes()))
    importer.finish()
    return result.image_id


def pages(collection, image):
    return {
        "collections": reverse("catalogue-collections"),
        "collection": reverse("catalogue-collection", args=[collection.pk]),
        "search": reverse("catalogue-search"),
        "original": reverse("catalogue-image-original", args=[image]),
        "upload": reverse("catalogue-upload", args=[collection.pk]),
        "new collection": reverse("catalogue-collection-new"),
    }


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_login_page(client, collection, image):
    for url in pages(collection, image).values():
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


@pytest.mark.parametrize("persona", ["cataloguer", "supervisor"])
@pytest.mark.django_db
def test_cataloguers_and_supervisors_see_the_catalogue_but_cannot_import(
    client_for, collection, image, persona
):
    client = client_for(persona)
    urls = pages(collection, image)
    for name in ("collections", "collection", "search", "original"):
        assert client.get(urls[name]).status_code == 200, name
    for name in ("upload", "new collection"):
        assert client.get(urls[name]).status_code == 403, name
    assert client.post(urls["upload"], {}).status_code == 403


@pytest.mark.django_db
def test_a_signed_in_user_without_a_role_sees_nothing(client_for, collection, image):
    client = client_for("outsider")
    for name, url in pages(collection, image).items():
        assert client.get(url).status_code == 403, name


@pytest.mark.django_db
def test_administrators_reach_every_page(client_for, collection, image):
    client = client_for("administrator")
    for name, url in pages(collection, image).items():
        assert client.get(url).status_code == 200, name


@pytest.mark.django_db
def test_the_original_is_served_with_its_bytes_and_never_publicly(client_for, collection, image):
    response = client_for("cataloguer").get(reverse("catalogue-image-original", args=[image]))

    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == jpeg_bytes()
    assert "private" in response["Cache-Control"]


@pytest.mark.django_db
def test_bootstrap_creates_the_roles_and_one_administrator_with_a_generated_password(capsys):
    from django.contrib.auth.models import Group, User

    call_command("bootstrap")
    first = capsys.readouterr().out
    call_command("bootstrap")
    second = capsys.readouterr().out

    password = first.split("password: ")[1].split()[0]
    admin = User.objects.get(username="admin")
    assert admin.check_password(password) and len(password) >= 12
    assert admin.groups.filter(name="Administrator").exists()
    assert set(Group.objects.values_list("name", flat=True)) >= {"Administrator", "Cataloguer", "Supervisor"}
    assert "password:" not in second and "exist" in second
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_login_page_logs_a_user_in(client, personas):
    response = client.post(
        reverse("login"), {"username": "cataloguer", "password": "correct horse battery staple"}
    )

    assert response.status_code == 302
    assert client.get(reverse("catalogue-collections")).status_code == 200
