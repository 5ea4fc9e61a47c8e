"""The embedded engine's `sightings`: added in front of a query that uses it, merged into its WITH."""

from __future__ import annotations

from peacewatch.lakehouse.query.quick_sql import SIGHTINGS_SQL, with_sightings


def test_a_query_without_sightings_is_left_alone() -> None:
    for query in ("SELECT count(*) FROM reports", "SELECT 1 AS my_sightings_count"):
        assert with_sightings(query) == query


def test_sightings_is_defined_in_front() -> None:
    out = with_sightings("select name from Sightings where peacescore < 5")
    assert out == f"WITH sightings AS ({SIGHTINGS_SQL}) select name from Sightings where peacescore < 5"


def test_a_query_with_its_own_with_list_gets_sightings_first() -> None:
    query = "  with bad as (select * from sightings where peacescore < 5) select count(*) from bad"
    out = with_sightings(query)
    assert out == (
        f"WITH sightings AS ({SIGHTINGS_SQL}), bad as (select * from sightings where peacescore < 5) "
        "select count(*) from bad"
    )
