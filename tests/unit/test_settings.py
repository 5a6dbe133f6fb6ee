import pytest

from worker.app import redis_settings
from worker.settings import SettingsError, load_settings, redact_url


def test_defaults_are_safe_and_local() -> None:
    s = load_settings({})
    assert s.timezone == "UTC"
    assert s.notification_permission == "manage_models"
    assert s.database_url.get_secret_value().startswith("postgresql+asyncpg://")
    assert 1 <= s.health_check_interval_seconds <= 60


def test_misspelled_setting_is_refused_not_ignored() -> None:
    with pytest.raises(SettingsError, match="LIFECYCLE_BATCHSIZE"):
        load_settings({"LIFECYCLE_BATCHSIZE": "10"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LIFECYCLE_TIMEZONE": "Mars/Olympus"}, "unknown timezone"),
        ({"LIFECYCLE_BATCH_SIZE": "0"}, "LIFECYCLE_BATCH_SIZE"),
        ({"LIFECYCLE_BATCH_SIZE": "lots"}, "LIFECYCLE_BATCH_SIZE"),
        ({"LIFECYCLE_NOTIFICATION_PERMISSION": "x'; drop table users;--"}, "invalid permission"),
        ({"LIFECYCLE_DATABASE_URL": "mysql://root@localhost/x"}, "postgresql"),
        ({"LIFECYCLE_REDIS_URL": "http://localhost"}, "redis://"),
        ({"LIFECYCLE_HEALTH_CHECK_INTERVAL_SECONDS": "3600"}, "HEALTH_CHECK_INTERVAL"),
        ({"LIFECYCLE_SCHEMA": 'x"; drop schema public; --'}, "LIFECYCLE_SCHEMA: .*invalid schema"),
        ({"LIFECYCLE_SCHEMA": "pg_catalog"}, "LIFECYCLE_SCHEMA"),
        (
            {"LIFECYCLE_DATABASE_URL": "postgresql://db/app?sslmode=verify_full"},
            "LIFECYCLE_DATABASE_URL: .*sslmode 'verify_full' is not one of",
        ),
        (
            {
                "LIFECYCLE_DATABASE_URL": "postgresql://db/app?sslmode=verify-full&sslrootcert=/no/ca"
            },
            "LIFECYCLE_DATABASE_URL: .*sslrootcert: cannot read '/no/ca'",
        ),
        (
            {"LIFECYCLE_REDIS_URL": "redis://cache:6379/0?ssl_ca_certs=/etc/hostname"},
            "LIFECYCLE_REDIS_URL: .*ssl_ca_certs needs a rediss:// URL",
        ),
        (
            {"LIFECYCLE_REDIS_URL": "rediss://cache:6379/0?ssl_ca_cert=/etc/hostname"},
            "LIFECYCLE_REDIS_URL: .*unknown TLS option 'ssl_ca_cert'",
        ),
        (
            {"LIFECYCLE_REDIS_URL": "rediss://cache:6379/0?ssl_ca_certs=/no/ca"},
            "LIFECYCLE_REDIS_URL: .*ssl_ca_certs: cannot read '/no/ca'",
        ),
        ({"LIFECYCLE_CLEANUP_MODE": "dry"}, "LIFECYCLE_CLEANUP_MODE: .*'delete' or 'report'"),
    ],
)
def test_invalid_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_plain_postgres_url_is_normalised_to_asyncpg() -> None:
    s = load_settings({"LIFECYCLE_DATABASE_URL": "postgresql://u:pw@db:5432/app"})
    assert s.database_url.get_secret_value() == "postgresql+asyncpg://u:pw@db:5432/app"


def test_asyncpg_ssl_parameter_is_written_as_libpq_sslmode() -> None:
    url = "postgresql://u:pw@db:5432/app?ssl=verify-full&sslrootcert=/etc/hostname"
    s = load_settings({"LIFECYCLE_DATABASE_URL": url})
    assert s.database_url.get_secret_value() == (
        "postgresql+asyncpg://u:pw@db:5432/app?sslmode=verify-full&sslrootcert=/etc/hostname"
    )


def test_rediss_url_options_reach_the_arq_pool() -> None:
    url = "rediss://cache:6380/0?ssl_ca_certs=/etc/hostname&ssl_check_hostname=true"
    rs = redis_settings(load_settings({"LIFECYCLE_REDIS_URL": url}))
    assert (rs.ssl, rs.ssl_ca_certs, rs.ssl_check_hostname) == (True, "/etc/hostname", True)


def test_secrets_never_appear_in_repr_or_redacted_urls() -> None:
    s = load_settings(
        {
            "LIFECYCLE_DATABASE_URL": "postgresql://u:hunter2@db/app",
            "LIFECYCLE_REDIS_URL": "redis://:hunter3@cache:6379/0",
        }
    )
    assert "hunter2" not in repr(s) and "hunter3" not in repr(s)
    assert "hunter2" not in str(s.model_dump())
    assert redact_url("postgresql://u:hunter2@db/app") == "postgresql://u:***@db/app"
    assert redact_url("redis://:hunter3@cache:6379/0") == "redis://:***@cache:6379/0"
    # A client key's passphrase in a TLS URL is a secret too.
    tls = "postgresql://u@db/app?sslmode=verify-full&sslkey=/k.pem&sslpassword=hunter4"
    assert redact_url(tls) == (
        "postgresql://u@db/app?sslmode=verify-full&sslkey=/k.pem&sslpassword=***"
    )


def test_worker_schema_is_set_by_lifecycle_schema() -> None:
    assert load_settings({}).worker_schema == "lifecycle"
    assert load_settings({"LIFECYCLE_SCHEMA": "llm_lifecycle"}).worker_schema == "llm_lifecycle"
    assert load_settings({"LIFECYCLE_SCHEMA": "llm_lifecycle"}).layout.search_path() == (
        '"llm_lifecycle", "public"'
    )


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({}, "delete"),
        ({"LIFECYCLE_PLATFORM_FILE": "host.toml"}, "report"),
        ({"LIFECYCLE_PLATFORM_FILE": "host.toml", "LIFECYCLE_CLEANUP_MODE": "delete"}, "delete"),
        ({"LIFECYCLE_CLEANUP_MODE": "report"}, "report"),
        ({"LIFECYCLE_PLATFORM_FILE": "host.toml", "LIFECYCLE_CLEANUP_MODE": ""}, "report"),
    ],
    ids=["reference", "mapped", "mapped-chose-delete", "reference-chose-report", "empty-is-unset"],
)
def test_cleanup_mode_defaults_to_report_on_a_mapped_host(env: dict[str, str], mode: str) -> None:
    assert load_settings(env).job_config.cleanup_mode == mode
