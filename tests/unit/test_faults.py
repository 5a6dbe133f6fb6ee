import pytest
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, ProgrammingError

from jobs.errors import InvalidPayload, TransientJobError
from jobs.faults import is_transient
from worker.faults import backoff_seconds


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TransientJobError("x"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (OperationalError("stmt", {}, _Orig("55P03")), True),
        (OperationalError("stmt", {}, _Orig("40P01")), True),
        (OperationalError("stmt", {}, _Orig("08006")), True),
        (IntegrityError("stmt", {}, _Orig("23505")), False),
        (IntegrityError("stmt", {}, _Orig("23503")), False),
        # The driver's own errors carry no SQLSTATE: a lost connection is transient,
        # a statement it cannot send (too many bind parameters) is a bug.
        (InterfaceError("stmt", {}, Exception("connection is closed")), True),
        (
            InterfaceError(
                "stmt", {}, Exception("the number of query arguments cannot exceed 32767")
            ),
            False,
        ),
        (ProgrammingError("stmt", {}, Exception("syntax")), False),
        (InvalidPayload("bad"), False),
        (ValueError("bad"), False),
        (KeyError("x"), False),
    ],
)
def test_transient_classification(exc: BaseException, expected: bool) -> None:
    assert is_transient(exc) is expected


@pytest.mark.parametrize(
    ("job_try", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (50, 30.0)]
)
def test_backoff_grows_and_is_capped(job_try: int, delay: float) -> None:
    assert backoff_seconds(job_try) == delay
