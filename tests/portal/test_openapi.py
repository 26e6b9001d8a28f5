from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

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
