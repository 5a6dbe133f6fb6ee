import pickle
import uuid
from datetime import UTC, date, datetime

import pytest

from worker.serialization import MAX_JOB_BYTES, JobPayloadError, deserialize, serialize


def test_round_trip_of_job_shapes() -> None:
    job = {"t": 1, "f": "ping", "a": [{"message": "hi"}], "k": {}, "et": 1700000000000}
    assert deserialize(serialize(job)) == job


def test_results_with_exceptions_uuids_and_dates_serialize() -> None:
    value = {
        "r": ValueError("boom"),
        "id": uuid.UUID(int=1),
        "d": date(2026, 1, 2),
        "t": datetime(2026, 1, 2, tzinfo=UTC),
    }
    out = deserialize(serialize(value))
    assert out["r"] == {"error": "ValueError", "message": "boom"}
    assert out["id"] == str(uuid.UUID(int=1))
    assert out["d"] == "2026-01-02"


def test_pickle_is_refused() -> None:
    with pytest.raises(JobPayloadError, match="not JSON"):
        deserialize(pickle.dumps({"f": "ping"}))


@pytest.mark.parametrize("data", [b"[1,2]", b'"x"', b"null"])
def test_non_objects_are_refused(data: bytes) -> None:
    with pytest.raises(JobPayloadError, match="not a JSON object"):
        deserialize(data)


def test_oversized_payload_is_refused() -> None:
    with pytest.raises(JobPayloadError, match="exceeds"):
        deserialize(b"{" + b" " * MAX_JOB_BYTES + b"}")


def test_unknown_types_fail_loudly() -> None:
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        serialize({"x": object()})


@pytest.mark.parametrize(
    "fields",
    [
        {"t": "x"},
        {"t": [1]},
        {"t": -1},
        {"et": "soon"},
        {"et": 10**20},
        {"f": ["ping"]},
        {"a": {}},
        {"k": []},
        {"t": True},
    ],
)
def test_envelopes_arq_would_misuse_are_refused(fields: dict[str, object]) -> None:
    job = {"t": 1, "f": "ping", "a": [], "k": {}, "et": 1700000000000, **fields}
    with pytest.raises(JobPayloadError, match="envelope field"):
        deserialize(serialize(job))
