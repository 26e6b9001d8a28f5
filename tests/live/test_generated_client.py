"""The schema is usable by people who generate SDKs from it: a Python client generated from the
live server's /v1/schema by openapi-python-client (pinned in requirements-dev.txt) is driven
through every operation against that server, errors included."""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.live.server import BIN, LiveServer, gunicorn

pytestmark = pytest.mark.live

PACKAGE = "portal_api_client"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with gunicorn(workers=1, env={"RATE_LIMIT_DEFAULT": "100000/m"}) as live:
        yield live


@pytest.fixture(scope="module")
def sdk(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client, generated as its users generate it: from the served schema."""
    out = tmp_path_factory.mktemp("client")
    schema = out / "schema.yaml"
    schema.write_bytes(requests.get(f"{server.url}/v1/schema", timeout=10).content)
    config = out / "config.yaml"
    config.write_text(f"package_name_override: {PACKAGE}\nproject_name_override: portal-api\n")
    subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            *("generate", "--path", str(schema), "--config", str(config)),
            *("--meta", "none", "--output-path", str(out / PACKAGE)),
        ],
        check=True,
        capture_output=True,
        # Its post-generation hook formats the code with ruff, from the same venv.
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.startswith(PACKAGE)]:
            del sys.modules[name]


def _api(name: str) -> Any:
    group = {
        "contacts": "contacts",
        "jobs": "jobs",
        "job": "files",
        "health": "health",
        "usage": "usage",
    }
    return importlib.import_module(f"{PACKAGE}.api.{group[name.split('_')[0]]}.{name}")


def _model(name: str) -> Any:
    return getattr(importlib.import_module(f"{PACKAGE}.models"), name)


def test_a_generated_client_drives_every_operation(sdk: ModuleType, server: LiveServer) -> None:
    called: set[str] = set()

    def call(name: str, **kwargs: Any) -> Any:
        called.add(name)
        return _api(name).sync_detailed(**kwargs)

    anon = sdk.Client(base_url=server.url)
    auth = sdk.AuthenticatedClient(base_url=server.url, token=server.token)
    Problem = _model("Problem")  # noqa: N806 - a class

    health = call("health", client=anon)
    assert health.status_code == 200
    assert health.parsed.status.value == "healthy"

    created = call(
        "contacts_create",
        client=auth,
        body=_model("ContactInputRequest")(name="Generated Client", email="sdk@example.com"),
    )
    assert created.status_code == 201, created.content
    contact = created.parsed
    assert contact.name == "Generated Client"
    assert call("contacts_retrieve", contact_id=contact.id, client=auth).parsed.id == contact.id
    updated = call(
        "contacts_update",
        contact_id=contact.id,
        client=auth,
        body=_model("PatchedContactInputRequest")(phone="+1 555 0100"),
    )
    assert updated.parsed.phone == "+1 555 0100"
    listed = call("contacts_list", client=auth, q="Generated Client", limit=1)
    assert listed.status_code == 200
    assert [c.id for c in listed.parsed.data] == [contact.id]
    assert listed.parsed.total == 1

    job = call(
        "jobs_create",
        client=auth,
        body=_model("JobInputRequest")(title="Fit the SDK", contact_id=contact.id),
    )
    assert job.status_code == 201, job.content
    job_id = job.parsed.id
    assert call("jobs_retrieve", job_id=job_id, client=auth).parsed.title == "Fit the SDK"
    started = call(
        "jobs_update",
        job_id=job_id,
        client=auth,
        body=_model("PatchedJobInputRequest")(status=_model("JobStatusEnum")("in_progress")),
    )
    assert started.parsed.status.value == "in_progress"
    # An illegal transition: a typed problem with its code, not an exception.
    back = call(
        "jobs_update",
        job_id=job_id,
        client=auth,
        body=_model("PatchedJobInputRequest")(status=_model("JobStatusEnum")("pending")),
    )
    assert back.status_code == 409
    assert isinstance(back.parsed, Problem)
    assert back.parsed.code == "INVALID_STATUS_TRANSITION"
    jobs = call("jobs_list", client=auth, contact_id=contact.id)
    assert [j.id for j in jobs.parsed.data] == [job_id]

    upload = _model("JobFileUploadRequest")(
        file=sdk.types.File(payload=io.BytesIO(PDF), file_name="report.pdf"),
        name="Report.pdf",
    )
    uploaded = call("job_files_create", job_id=job_id, client=auth, body=upload)
    assert uploaded.status_code == 201, uploaded.content
    job_file = uploaded.parsed
    assert (job_file.name, job_file.size) == ("Report.pdf", len(PDF))
    files = call("job_files_list", job_id=job_id, client=auth)
    assert [f.id for f in files.parsed.data] == [job_file.id]
    detail = call("job_files_retrieve", job_id=job_id, file_id=job_file.id, client=auth)
    # The signed link, taken apart into the download operation's parameters.
    query = {k: v[0] for k, v in parse_qs(urlsplit(detail.parsed.signed_url).query).items()}
    download = call(
        "job_files_download",
        job_id=job_id,
        file_id=job_file.id,
        client=anon,
        client_query=query["client"],
        expires=int(query["expires"]),
        signature=query["signature"],
    )
    assert download.status_code == 200
    assert download.content == PDF

    missing = call(
        "contacts_retrieve", contact_id="00000000-0000-0000-0000-000000000000", client=auth
    )
    assert missing.status_code == 404
    assert missing.parsed.code == "NOT_FOUND"
    refused = call(
        "contacts_list", client=sdk.AuthenticatedClient(base_url=server.url, token="pt_nope")
    )
    assert refused.status_code == 401
    assert isinstance(refused.parsed, Problem)

    usage = call("usage_retrieve", client=auth)
    assert usage.status_code == 200
    assert usage.parsed.storage.files == 1
    assert usage.parsed.storage.bytes_ == len(PDF)

    deleted = call("job_files_destroy", job_id=job_id, file_id=job_file.id, client=auth)
    assert deleted.status_code == 204
    assert call("jobs_destroy", job_id=job_id, client=auth).status_code == 204
    assert call("contacts_destroy", contact_id=contact.id, client=auth).status_code == 204

    generated = {
        path.stem
        for path in (Path(str(sdk.__file__)).parent / "api").rglob("*.py")
        if path.stem != "__init__"
    }
    assert len(generated) == 17
    assert called == generated
