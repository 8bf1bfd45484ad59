"""Provider metadata: the option table in the docs is the one in the code; the connection
types carry their forms and pass Airflow's own schema; install lines are quoted."""

from __future__ import annotations

import json
import os
import re

import pytest

from airflow_cloudplan.airflow.provider_info import (
    API_TYPE,
    CONFIG_OPTIONS,
    METADB_TYPE,
    get_provider_info,
    options_markdown,
)
from tests.conftest import REPO

DOC = REPO / "docs" / "airflow.md"
BEGIN = re.compile(r"(<!-- cloudplan-options:[^\n]*-->\n)(.*?)(<!-- /cloudplan-options -->)",
                   re.DOTALL)


def test_docs_option_table_is_generated_from_config_options() -> None:
    text = DOC.read_text()
    match = BEGIN.search(text)
    assert match, "docs/airflow.md lost its <!-- cloudplan-options --> markers"
    want = options_markdown() + "\n"
    if os.environ.get("CLOUDPLAN_UPDATE_DOCS") == "1":
        DOC.write_text(text[:match.start(2)] + want + text[match.end(2):])
        return
    assert match.group(2) == want, ("docs/airflow.md's [cloudplan] table differs from "
                                    "CONFIG_OPTIONS: run with CLOUDPLAN_UPDATE_DOCS=1")
    documented = re.findall(r"^\| `(\w+)` \|", match.group(2), re.MULTILINE)
    assert documented == [name for name, *_ in CONFIG_OPTIONS]


def test_provider_info_passes_airflows_schemas() -> None:
    import importlib.resources

    import jsonschema

    info = get_provider_info()
    airflow_files = importlib.resources.files("airflow")
    jsonschema.validate(info, json.loads(
        (airflow_files / "provider_info.schema.json").read_text()))
    yaml_schema = json.loads((airflow_files / "provider.yaml.schema.json").read_text())
    jsonschema.validate(info["connection-types"],
                        yaml_schema["properties"]["connection-types"])
    assert {c["connection-type"] for c in info["connection-types"]} == {METADB_TYPE, API_TYPE}


def test_airflow_shows_the_connection_forms() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hooks = ProvidersManagerTaskRuntime().hooks  # what task code resolves the types with
    assert hooks[METADB_TYPE] is not None and hooks[API_TYPE] is not None
    assert hooks[METADB_TYPE].hook_name == "Cloudplan metadata DB (read-only)"
    assert hooks[API_TYPE].connection_type == API_TYPE
    pm = ProvidersManager()  # what the api-server builds the connection form from
    behaviours = pm.field_behaviours
    assert behaviours[METADB_TYPE]["relabeling"]["schema"] == "Database"
    assert behaviours[API_TYPE]["relabeling"]["schema"] == "Scheme (http or https)"
    assert "extra" in behaviours[API_TYPE]["hidden_fields"]
    widgets = pm.connection_form_widgets
    assert f"extra__{METADB_TYPE}__dialect" in widgets
    assert widgets[f"extra__{METADB_TYPE}__url"].is_sensitive


@pytest.mark.parametrize(("conn", "url"), [
    ({"conn_type": METADB_TYPE, "host": "db", "port": 5432, "schema": "airflow",
      "login": "ro", "password": "p@ss"}, "postgresql://ro:p%40ss@db:5432/airflow"),
    ({"conn_type": METADB_TYPE, "host": "/var/airflow.db", "extra": {"dialect": "sqlite"}},
     "sqlite:////var/airflow.db"),
    ({"conn_type": METADB_TYPE, "extra": {"url": "postgresql+psycopg2://u@h/a"}},
     "postgresql+psycopg2://u@h/a"),
    ({"conn_type": "sqlite", "host": "/tmp/x.db"}, "sqlite:////tmp/x.db"),
    ({"conn_type": "postgres", "host": "h", "login": "u", "password": "p", "schema": "a"},
     "postgresql://u:p@h/a"),
])
def test_metadb_connection_of_any_type_gives_a_sqlalchemy_url(
        conn: dict[str, object], url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_cloudplan.airflow.settings import sqlalchemy_url

    monkeypatch.setenv("AIRFLOW_CONN_CP_TEST_METADB", json.dumps(conn))
    assert sqlalchemy_url("cp_test_metadb") == url


def test_install_lines_quote_their_extras() -> None:
    unquoted = re.compile(r"pip install (?:-\S+ )*(?![\"'])[\w.-]*\[")
    for doc in (REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))):
        bad = [line for line in doc.read_text().splitlines() if unquoted.search(line)]
        assert not bad, f"{doc.name}: quote the requirement (zsh globs [..]): {bad}"
    assert 'pip install ".[all]"' in (REPO / "README.md").read_text()
