"""Embedded services keep their address across restarts, so a second shell keeps working."""

import os
import signal
import socket
import time
from pathlib import Path

from worker.devservices import _alive, start_embedded_redis


def _stop(data_dir: Path) -> None:
    pid_file = data_dir / "redis" / "redis.pid"
    os.kill(int(pid_file.read_text()), signal.SIGTERM)
    while _alive(pid_file):
        time.sleep(0.05)


def test_embedded_redis_comes_back_on_the_port_it_had(tmp_path: Path) -> None:
    first = start_embedded_redis(tmp_path)
    _stop(tmp_path)
    again = start_embedded_redis(tmp_path)
    try:
        assert again == first
    finally:
        _stop(tmp_path)


def test_embedded_redis_moves_when_its_port_is_taken(tmp_path: Path) -> None:
    first = start_embedded_redis(tmp_path)
    _stop(tmp_path)
    port = int(first.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        moved = start_embedded_redis(tmp_path)
        try:
            assert moved != first
            assert (tmp_path / "redis" / "port").read_text() != str(port)
        finally:
            _stop(tmp_path)
