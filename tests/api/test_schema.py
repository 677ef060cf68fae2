"""The published OpenAPI schema, fuzzed by schemathesis: no input makes the server fail with a 5xx.

The server here has an empty store of its own, so generated names can touch nothing real and no
request runs a model for long.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from ember.backend.config import Config
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.api.conftest import running_server


@pytest.fixture(scope="module")
def fuzz_server(session_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from ember.backend.local.local_backend import LocalBackend

    settings_ = Config(models=tmp_path_factory.mktemp("fuzz-models"), keep_alive="0")
    backend = LocalBackend(settings_)
    with running_server(backend, settings_) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(fuzz_server: str):  # type: ignore[no-untyped-def]
    # the fuzzing phase alone, a few examples per operation: a short run, not the full coverage sweep
    config = schemathesis.config.SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
    return schemathesis.openapi.from_url(fuzz_server + "/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.timeout(120)
@schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_makes_a_server_error(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(checks=[not_a_server_error], timeout=30)
