from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from django.core.management import call_command
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from rest_framework.test import APIClient

from portal.models import Tenant
from tests.factories import JobFileFactory
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db


def test_the_schema_is_valid_and_warning_free(tmp_path: Path) -> None:
    # --fail-on-warn makes any schema warning an error.
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Portal API"


def test_the_schema_describes_envelopes_problems_and_bearer_auth(anon: APIClient) -> None:
    response = anon.get("/v1/schema")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    listing = schema["paths"]["/v1/contacts"]["get"]
    envelope = listing["responses"]["200"]["content"]["application/json"]["schema"]
    ref = envelope["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][ref]["required"]) == {
        "data",
        "total",
        "limit",
        "offset",
        "has_more",
        "next_cursor",
    }
    for status in ("400", "401", "404", "429"):
        assert "application/problem+json" in listing["responses"][status]["content"]
    assert "/v1/jobs/{job_id}/files" in schema["paths"]
    # Load balancers call health bare.
    assert schema["paths"]["/v1/health"]["get"].get("security") in (None, [{}])


def test_the_docs_page_is_served_without_a_cdn(anon: APIClient) -> None:
    response = anon.get("/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html


def test_trying_the_upload_in_swagger_does_not_name_the_file_string(anon: APIClient) -> None:
    schema = yaml.safe_load(anon.get("/v1/schema").content)
    upload = schema["components"]["schemas"]["JobFileUploadRequest"]["properties"]["name"]
    # Swagger UI pre-fills a form field with its default, and with "string" without one.
    assert upload["default"] == ""


def _schema(anon: APIClient) -> dict[str, Any]:
    response = anon.get("/v1/schema")
    assert response.status_code == 200
    return yaml.safe_load(response.content)  # type: ignore[no-any-return]


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "patch", "put", "delete"}
    ]


def test_every_operation_is_documented_for_a_client(anon: APIClient) -> None:
    """The schema is the manual: a summary and a description written for API clients on every
    operation, a description on every response, and examples for every request body and
    every JSON response (errors included)."""
    schema = _schema(anon)
    operations = _operations(schema)
    assert len(operations) == 17
    for method, path, operation in operations:
        where = f"{method} {path}"
        assert operation.get("summary"), where
        description = operation.get("description", "")
        assert len(description) > 40, where
        # Not a maintainer's docstring (they cite internal documents and policies).
        assert "Policies every API view shares" not in description, where
        assert "CONTRACT" not in description, where
        for status, response in operation["responses"].items():
            assert response.get("description"), (where, status)
            for media, content in response.get("content", {}).items():
                if media == "application/octet-stream":
                    continue
                assert content.get("examples"), (where, status, media)
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            assert content.get("examples"), (where, "request", media)
    # Lists keep their pagination, ordering and filter parameters.
    for path, filters in (
        ("/v1/contacts", {"q"}),
        ("/v1/jobs", {"status", "contact_id"}),
        ("/v1/jobs/{job_id}/files", set()),
    ):
        names = {p["name"] for p in schema["paths"][path]["get"].get("parameters", [])}
        assert {"limit", "offset", "cursor"} | filters <= names, (path, names)
    upload = schema["paths"]["/v1/jobs/{job_id}/files"]["post"]["description"]
    assert "application/pdf" in upload
    assert "image/jpeg" in upload


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 `nullable` as JSON Schema, so examples can be checked with jsonschema."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "$ref" in out or "allOf" in out or "oneOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def test_every_json_example_is_valid_against_its_schema(anon: APIClient) -> None:
    schema = _schema(anon)
    components = _json_schema(schema["components"])
    checked = 0
    for method, path, operation in _operations(schema):
        bodies = [("request", operation.get("requestBody", {}).get("content", {}))]
        bodies += [(status, r.get("content", {})) for status, r in operation["responses"].items()]
        for where, contents in bodies:
            for media, content in contents.items():
                if "json" not in media:
                    continue
                target = {**_json_schema(content["schema"]), "components": components}
                for name, example in content.get("examples", {}).items():
                    errors = list(Draft202012Validator(target).iter_errors(example["value"]))
                    assert errors == [], (method, path, where, name, errors[0].message)
                    checked += 1
    assert checked > 100


@pytest.mark.django_db
def test_every_text_filter_says_what_the_server_checks(api: APIClient, anon: APIClient) -> None:
    """Each free-text query filter's schema names its form field's limits (length, no NUL):
    at the edge of what the schema allows the server accepts, just past it the server refuses."""
    checked = 0
    for method, path, operation in _operations(_schema(anon)):
        if method != "GET" or "{" in path:
            continue
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            if parameter["in"] != "query" or "pattern" not in schema:
                continue
            assert schema["pattern"] == "^[^\\u0000]*$"
            name, longest = parameter["name"], schema["maxLength"]
            for value, status in [
                ("x" * longest, 200),
                ("ok \u200b ß İ % _ \\", 200),
                ("x" * (longest + 1), 400),
                ("a\x00b", 400),
            ]:
                assert api.get(path, {name: value}).status_code == status, (path, name, value)
            checked += 1
    assert checked >= 1  # contacts' q


def test_every_query_parameter_given_empty_is_refused_as_the_schema_says(
    api: APIClient, anon: APIClient, tenant: Tenant
) -> None:
    """`?ordering=` used to mean "the default" while the schema said no value may be empty, and
    schemathesis caught the 200. The class: every query parameter of every operation, however
    it is declared (filter, pagination, ordering, signed link), allows no empty value in the
    schema, and an empty value is a 400 that names it, even beside an otherwise good request."""
    job_file = JobFileFactory.create(job__tenant=tenant)
    ids = {"contact_id": job_file.job.contact_id, "job_id": job_file.job_id, "file_id": job_file.id}
    link = urlsplit(api.get(f"/v1/jobs/{job_file.job_id}/files").json()["data"][0]["signed_url"])
    good = {"/v1/jobs/{job_id}/files/{file_id}/download": dict(parse_qsl(link.query))}
    assert anon.get(link.path, dict(parse_qsl(link.query))).status_code == 200
    checked = set()
    for method, path, operation in _operations(_schema(anon)):
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            name, schema = parameter["name"], parameter["schema"]
            assert (
                schema.get("minLength", 0) >= 1
                or schema.get("minItems", 0) >= 1
                or schema["type"] in {"integer", "number"}
            ), (path, name, schema)
            assert method == "GET", (method, path, name)
            client = api if operation.get("security") != [] else anon
            query = {**good.get(path, {}), name: ""}
            response = client.get(path.format(**ids), query)
            assert response.status_code == 400, (path, name, response.content)
            assert_problem(response, 400, "VALIDATION_ERROR")
            error = response.json()["errors"][0]
            assert error == {
                "field": name,
                "message": "May not be empty; leave the parameter out instead.",
            }, (path, name)
            checked.add((path, name))
    assert len(checked) >= 17
