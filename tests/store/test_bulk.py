"""store/bulk: the fast time text binds what SQLAlchemy would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from pressroom.store.bulk import bind_processor
from pressroom.store.schema import UTCDateTime


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 29, 1, 0, tzinfo=UTC),
        datetime(2020, 1, 31, 22, 51, 7, 123456, tzinfo=timezone(timedelta(hours=8))),
        datetime(1, 1, 2, 0, 0, 0, 1, tzinfo=UTC),
        datetime(
            9999, 12, 30, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5, minutes=-30))
        ),
    ],
)
def test_the_fast_sqlite_time_text_is_sqlalchemys(moment: datetime) -> None:
    dialect = sqlite.dialect()
    ours = bind_processor(UTCDateTime(), dialect)
    theirs = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None and theirs is not None
    assert ours(moment) == theirs(moment)
    with pytest.raises(ValueError, match="naive"):
        ours(moment.replace(tzinfo=None))
