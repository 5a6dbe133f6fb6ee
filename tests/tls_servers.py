"""Private TLS-only PostgreSQL and Redis servers for tests, with a throw-away CA.

The CA and the servers' certificates are made with the ``openssl`` command; PostgreSQL is
a fresh cluster from the machine's binaries (``initdb``/``pg_ctl``) that accepts only
``hostssl`` connections; Redis listens on a TLS port only (``--port 0``). Both use spare
ports and are stopped by the caller; the shared servers are never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("LIFECYCLE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


@dataclass(frozen=True)
class Certificates:
    """A CA and a server certificate it signed (for localhost and 127.0.0.1)."""

    ca: Path
    cert: Path
    key: Path


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(*args: str | Path, user: str | None = None) -> None:
    command = [str(a) for a in args]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed: {done.stderr.strip()}", pytrace=False)


def _require(binary: str | Path) -> None:
    if shutil.which(str(binary)) is None:
        pytest.fail(f"{binary} is required for the TLS tests and was not found", pytrace=False)


def make_certificates(folder: Path, name: str = "server") -> Certificates:
    """A new CA under ``folder`` and a server certificate signed by it."""
    _require("openssl")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca, ca_key = folder / f"{name}-ca.pem", folder / f"{name}-ca.key"
    cert, key, csr = folder / f"{name}.pem", folder / f"{name}.key", folder / f"{name}.csr"
    ext = folder / f"{name}.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _run("openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=lifecycle throw-away test CA")  # fmt: skip
    _run("openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    _run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)  # fmt: skip
    return Certificates(ca, cert, key)


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: run it as ``postgres`` then."""
    return "postgres" if os.geteuid() == 0 else None


@contextmanager
def tls_postgres(certs: Certificates) -> Iterator[int]:
    """A private PostgreSQL that accepts TLS connections only; yields its port (user
    ``postgres``, trusted, on 127.0.0.1)."""
    _require(PG_BIN / "initdb")
    user = _server_user()
    home = Path(tempfile.mkdtemp(prefix="lifecycle-tls-pg-"))
    cert, key = home / "server.pem", home / "server.key"
    shutil.copy(certs.cert, cert)
    shutil.copy(certs.key, key)
    key.chmod(0o600)
    if user is not None:
        for path in (home, cert, key):
            shutil.chown(path, user)
    data, port = home / "data", spare_port()
    _run(PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", user=user)
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{home}'\nssl = on\n"
            f"ssl_cert_file = '{cert}'\nssl_key_file = '{key}'\nfsync = off\n"
        )
    # TLS or nothing: no plain `host` line.
    (data / "pg_hba.conf").write_text("local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
    ctl = PG_BIN / "pg_ctl"
    _run(ctl, "-D", data, "-l", home / "log", "-w", "start", user=user)
    try:
        yield port
    finally:
        _run(ctl, "-D", data, "-m", "immediate", "-w", "stop", user=user)
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def tls_redis(certs: Certificates) -> Iterator[int]:
    """A private Redis listening on a TLS port only; yields the port."""
    _require("redis-server")
    home = Path(tempfile.mkdtemp(prefix="lifecycle-tls-redis-"))
    port = spare_port()
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(certs.cert), "--tls-key-file", str(certs.key),
         "--tls-ca-cert-file", str(certs.ca), "--tls-auth-clients", "no",
         "--save", "", "--appendonly", "no", "--dir", str(home)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(port, server)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def _wait_for_port(port: int, server: subprocess.Popen[bytes]) -> None:
    for _ in range(100):
        if server.poll() is not None:
            pytest.fail(f"redis-server with TLS exited with {server.returncode}", pytrace=False)
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"redis-server with TLS did not listen on {port}", pytrace=False)
