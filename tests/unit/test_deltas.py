"""State deltas reassemble to exactly the full state, over long random sequences."""

import copy
import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.deltas import apply, diff

Value = dict[str, Any]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(0, 3), st.sampled_from("abc")
)
fields = st.sampled_from(["cpu", "memory", "state", "name", "pids", "health"])
items = st.builds(
    lambda key, values: {"id": key, **values},
    st.sampled_from([f"c{n}" for n in range(8)]),
    st.dictionaries(fields, scalars, max_size=4),
)
# A batch like a stats message: a few top-level fields and a list of items by id,
# which come, go, change, lose fields and move about.
values = st.builds(
    lambda top, listed: {
        **top,
        "containers": list({item["id"]: item for item in listed}.values()),
    },
    st.dictionaries(st.sampled_from(["host", "time", "interval_s", "note"]), scalars, max_size=4),
    st.lists(items, max_size=8),
)


@settings(max_examples=300)
@given(st.lists(values, min_size=2, max_size=40))
def test_applying_each_delta_to_the_state_before_gives_exactly_the_next_state(
    sequence: list[Value],
) -> None:
    state = copy.deepcopy(sequence[0])
    for before, after in itertools.pairwise(sequence):
        patch = json.loads(json.dumps(diff(before, after, "containers")))  # as on the wire
        kept = copy.deepcopy(state)
        state = apply(state, patch)
        assert state == after
        assert [item["id"] for item in state["containers"]] == [
            item["id"] for item in after["containers"]
        ]
        assert kept == before  # applying made a new state, the old one is untouched


@given(st.lists(values, min_size=2, max_size=10))
def test_without_an_item_list_every_field_changes_as_a_whole(sequence: list[Value]) -> None:
    state = sequence[0]
    for after in sequence[1:]:
        patch = diff(state, after)
        assert "items" not in patch
        state = apply(state, patch)
        assert state == after


def test_a_delta_carries_only_what_changed() -> None:
    before = {
        "host": "web1",
        "time": "t1",
        "containers": [
            {"id": "a", "name": "api", "cpu": 1.0, "memory": 10},
            {"id": "b", "name": "db", "cpu": 2.0, "memory": 20},
            {"id": "c", "name": "cache", "cpu": 3.0, "memory": 30},
        ],
    }
    after = {
        "host": "web1",
        "time": "t2",
        "containers": [
            {"id": "a", "name": "api", "cpu": 1.5, "memory": 10},
            {"id": "c", "name": "cache", "cpu": 3.0, "memory": 30},
            {"id": "d", "name": "new", "cpu": 0.0, "memory": 1},
        ],
    }
    assert diff(before, after, "containers") == {
        "set": {"time": "t2"},
        "items": "containers",
        "changed": {"a": {"cpu": 1.5}},
        "added": [{"id": "d", "name": "new", "cpu": 0.0, "memory": 1}],
        "removed": ["b"],
    }
    assert diff(after, after, "containers") == {"items": "containers"}
