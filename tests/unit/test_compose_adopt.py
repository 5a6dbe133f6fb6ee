"""docker-compose.adopt.yml runs the worker on an existing platform's database with its
mounted mapping: no database of its own, the mapping checked before the schema is built,
and every service reading the mapping that is mounted."""

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
LIFECYCLE_SERVICES = ("check", "migrate", "worker", "cli")


def _compose(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return loaded


def _mount_target(volumes: list[str], source_variable: str) -> str:
    [volume] = [v for v in volumes if v.startswith(f"${{{source_variable}:")]
    return volume.split("}:", 1)[1].removesuffix(":ro")


def test_the_adopt_file_uses_the_platforms_database_and_no_database_of_its_own() -> None:
    services = _compose("docker-compose.adopt.yml")["services"]
    assert "postgres" not in services
    for name in LIFECYCLE_SERVICES:
        url = services[name]["environment"]["LIFECYCLE_DATABASE_URL"]
        assert url.startswith("${LIFECYCLE_DATABASE_URL:?"), name


def test_every_service_reads_the_mapping_that_is_mounted() -> None:
    services = _compose("docker-compose.adopt.yml")["services"]
    for name in LIFECYCLE_SERVICES:
        service = services[name]
        target = _mount_target(service["volumes"], "LIFECYCLE_MAPPING")
        assert service["environment"]["LIFECYCLE_PLATFORM_FILE"] == target, name


def test_the_mapping_is_checked_before_the_schema_and_the_schema_before_workers() -> None:
    services = _compose("docker-compose.adopt.yml")["services"]
    done = {"condition": "service_completed_successfully"}
    assert services["check"]["command"] == ["platform", "check"]
    assert services["migrate"]["depends_on"]["check"] == done
    assert services["worker"]["depends_on"]["migrate"] == done


def test_the_default_catalog_mount_is_the_shipped_example() -> None:
    services = _compose("docker-compose.adopt.yml")["services"]
    [catalog] = [v for v in services["cli"]["volumes"] if "LIFECYCLE_CATALOG" in v]
    source = catalog.split(":-", 1)[1].split("}", 1)[0]
    assert (ROOT / source).is_file()
