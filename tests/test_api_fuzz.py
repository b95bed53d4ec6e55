"""Schemathesis fuzzes every operation of the API's OpenAPI schema, in-process through the WSGI app, as a
user with every role (so no operation stops at 403), and fails on any server error.

Bounded and deterministic: a few examples per operation, derandomized, so it takes seconds and a failure
reproduces."""

import io
import json

import pytest
import schemathesis
from django.core.cache import cache
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from knox.models import AuthToken
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error

from catalogue.importing import Importer
from catalogue.models import CatalogueRecord, Collection, ImageFile, ImportBatch
from dedup.models import CandidateGroup, CandidatePair
from licensing.models import Licence
from mastercopy.wsgi import application
from review import services
from review.models import Decision
from tests.conftest import jpeg_bytes
from tests.test_review_corpus import build_corpus, build_group

MAX_EXAMPLES = 16


@pytest.fixture
def every_role_token(db, personas):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user("everyrole", password="correct horse battery staple")
    user.groups.set(Group.objects.all())
    return AuthToken.objects.create(user)[1]


@pytest.fixture
def connection_kept():
    """Django's test client keeps the test's database connection across requests by holding back
    close_old_connections; schemathesis calls the WSGI app directly, so do the same here."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_data(connection_kept, collection, personas):
    """Something behind the ids: pairs (one decided), a group, an import with results, stored files."""
    pairs = build_corpus(collection, pairs=2)
    build_group(collection, members=3)
    services.sync_queue()
    services.decide_duplicate(pairs[0], pairs[0].image_a.record, reason="fuzz fixture")
    importer = Importer(collection, source=ImportBatch.Source.UPLOAD, user=personas["administrator"])
    importer.add("fuzz.jpg", io.BytesIO(jpeg_bytes()))
    importer.add("notes.txt", io.BytesIO(b"not an image"))
    importer.finish()
    record = pairs[1].image_a.record
    Licence.objects.create(
        number="FUZZ-1", client="Fuzz", collection=collection, catalogue_number=record.catalogue_number,
        record=record, licensed_on=record.created_at.date(),
    )
    yield
    cache.clear()  # the token endpoint's failures must not lock other tests' logins out


def _served_schema():
    """The schema /api/schema/ serves, generated here because collecting tests may not use the database
    (test_api checks that the endpoint serves this same document). schemathesis's fixture-based loader
    would fetch it per test, but it does not run under pytest 9."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))


schema = schemathesis.openapi.from_dict(_served_schema())
schema.app = application

# Random ids would almost never name a row: map even ones onto rows that exist, so detail pages,
# downloads, filters and decisions run on real objects too (odd ones still test the 404s and 400s).
MODELS = {
    "collections": Collection,
    "collection": Collection,
    "records": CatalogueRecord,
    "record": CatalogueRecord,
    "images": ImageFile,
    "image": ImageFile,
    "imports": ImportBatch,
    "pairs": CandidatePair,
    "pair": CandidatePair,
    "groups": CandidateGroup,
    "group": CandidateGroup,
    "decisions": Decision,
    "licences": Licence,
    "exports": Collection,  # /api/exports/partner/{id}/: a partner collection's id
}


def _existing(model, value):
    if not isinstance(value, int) or isinstance(value, bool) or value % 2:
        return value
    ids = list(model.objects.order_by("pk").values_list("pk", flat=True))
    return ids[(value // 2) % len(ids)] if ids else value


def _map_ids(values):
    if not isinstance(values, dict):
        return values
    return {name: _existing(MODELS[name], v) if name in MODELS else v for name, v in values.items()}


@schema.hook
def map_path_parameters(context, path_parameters):
    if path_parameters and "id" in path_parameters:
        model = MODELS[context.operation.path.split("/")[2]]
        path_parameters = {**path_parameters, "id": _existing(model, path_parameters["id"])}
    return path_parameters


@schema.hook
def map_query(context, query):
    return _map_ids(query)


@schema.hook
def map_body(context, body):
    return _map_ids(body)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_with_a_server_error(case, fuzz_data, every_role_token):
    response = case.call(headers={"Authorization": f"Token {every_role_token}"})

    case.validate_response(response, checks=[not_a_server_error])


@pytest.mark.django_db
def test_the_fuzzed_schema_is_the_one_the_api_serves(every_role_token):
    response = APIClient().get(
        "/api/schema/",
        HTTP_AUTHORIZATION=f"Token {every_role_token}",
        HTTP_ACCEPT="application/vnd.oai.openapi+json",
    )

    assert response.status_code == 200
    assert json.loads(response.content) == _served_schema()
