"""The pure range planner: examples, then hypothesis properties of its contract.

The properties restate the documented rules (every input in exactly one batch,
batches cover their members, the gap and size rules at each join, sorted
non-overlapping output, neighbours left apart only for a reason); they do not
re-implement the algorithm.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remote_zip_store.zipfmt._planner import (
    DEFAULT_COALESCE_GAP,
    DEFAULT_COALESCE_MAX,
    Batch,
    ByteRange,
    plan,
)


def R(start: int, end: int) -> ByteRange:
    return ByteRange(start, end)


# -- examples -----------------------------------------------------------------------------


def test_empty_input_gives_no_batches() -> None:
    assert plan([]) == []


def test_single_range_is_one_batch() -> None:
    assert plan([R(10, 20)]) == [Batch(10, 20, (0,))]


def test_neighbours_within_the_gap_merge() -> None:
    assert plan([R(0, 10), R(15, 30)], coalesce_gap=5) == [Batch(0, 30, (0, 1))]


def test_neighbours_beyond_the_gap_stay_apart() -> None:
    assert plan([R(0, 10), R(16, 30)], coalesce_gap=5) == [Batch(0, 10, (0,)), Batch(16, 30, (1,))]


def test_touching_ranges_merge_with_zero_gap() -> None:
    assert plan([R(0, 10), R(10, 20)], coalesce_gap=0) == [Batch(0, 20, (0, 1))]


def test_output_is_sorted_but_members_keep_input_indices() -> None:
    batches = plan([R(100, 110), R(0, 10), R(50, 60)], coalesce_gap=0)
    assert [(b.start, b.members) for b in batches] == [(0, (1,)), (50, (2,)), (100, (0,))]


def test_size_limit_splits_a_run() -> None:
    ranges = [R(i * 10, i * 10 + 10) for i in range(10)]
    batches = plan(ranges, coalesce_gap=0, coalesce_max=30)
    assert [(b.start, b.end) for b in batches] == [(0, 30), (30, 60), (60, 90), (90, 100)]


@pytest.mark.parametrize(("coalesce_max", "count"), [(20, 1), (19, 2)])
def test_size_limit_boundary(coalesce_max: int, count: int) -> None:
    assert len(plan([R(0, 10), R(12, 20)], coalesce_gap=2, coalesce_max=coalesce_max)) == count


@pytest.mark.parametrize(("coalesce_gap", "count"), [(2, 1), (1, 2)])
def test_gap_limit_boundary(coalesce_gap: int, count: int) -> None:
    assert len(plan([R(0, 10), R(12, 20)], coalesce_gap=coalesce_gap, coalesce_max=100)) == count


def test_single_range_larger_than_max_size_stands_alone() -> None:
    batches = plan([R(0, 5), R(5, 1000), R(1000, 1005)], coalesce_gap=10, coalesce_max=100)
    assert [(b.start, b.end, b.members) for b in batches] == [
        (0, 5, (0,)),
        (5, 1000, (1,)),
        (1000, 1005, (2,)),
    ]


def test_overlapping_and_duplicate_ranges_always_share() -> None:
    batches = plan([R(0, 80), R(40, 120), R(40, 120), R(119, 200)], coalesce_gap=0, coalesce_max=50)
    assert batches == [Batch(0, 200, (0, 1, 2, 3))]


def test_empty_ranges_are_served() -> None:
    batches = plan([R(5, 5), R(5, 9), R(100, 100)], coalesce_gap=0)
    assert batches == [Batch(5, 9, (0, 1)), Batch(100, 100, (2,))]


def test_defaults_merge_within_one_mib() -> None:
    ranges = [R(0, 100), R(100 + DEFAULT_COALESCE_GAP, 200 + DEFAULT_COALESCE_GAP)]
    assert len(plan(ranges)) == 1
    ranges = [R(0, 100), R(101 + DEFAULT_COALESCE_GAP, 200 + DEFAULT_COALESCE_GAP)]
    assert len(plan(ranges)) == 2
    big = [R(0, DEFAULT_COALESCE_MAX), R(DEFAULT_COALESCE_MAX, DEFAULT_COALESCE_MAX + 1)]
    assert len(plan(big)) == 2


def test_cut_returns_each_members_bytes() -> None:
    data = bytes(range(200))
    ranges = [R(10, 20), R(30, 45), R(12, 14)]
    (batch,) = plan(ranges, coalesce_gap=100)
    response = data[batch.start : batch.end]
    for i in batch.members:
        assert bytes(batch.cut(response, ranges[i])) == data[ranges[i].start : ranges[i].end]


@pytest.mark.parametrize(("start", "end"), [(-1, 5), (10, 9)])
def test_invalid_ranges_are_rejected(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="invalid byte range"):
        ByteRange(start, end)


@pytest.mark.parametrize(("gap", "size"), [(-1, 10), (0, 0)])
def test_invalid_limits_are_rejected(gap: int, size: int) -> None:
    with pytest.raises(ValueError, match="coalesce_gap"):
        plan([R(0, 1)], coalesce_gap=gap, coalesce_max=size)


# -- properties ---------------------------------------------------------------------------


@st.composite
def range_lists(draw: st.DrawFn) -> list[ByteRange]:
    """Ranges clustered so that gaps, touches, overlaps and duplicates all occur."""
    count = draw(st.integers(0, 40))
    scale = draw(st.sampled_from([10, 1000, 1 << 20]))
    ranges = []
    for _ in range(count):
        start = draw(st.integers(0, 50 * scale))
        size = draw(st.integers(0, 3 * scale))
        ranges.append(R(start, start + size))
    if ranges and draw(st.booleans()):
        ranges.append(draw(st.sampled_from(ranges)))  # an exact duplicate
    return ranges


limits = st.tuples(st.integers(0, 5000), st.integers(1, 20000)) | st.tuples(
    st.just(DEFAULT_COALESCE_GAP), st.just(DEFAULT_COALESCE_MAX)
)


@settings(max_examples=300, deadline=None)
@given(ranges=range_lists(), limits=limits)
def test_plan_contract(ranges: list[ByteRange], limits: tuple[int, int]) -> None:
    coalesce_gap, coalesce_max = limits
    batches = plan(ranges, coalesce_gap=coalesce_gap, coalesce_max=coalesce_max)

    # Every input index appears in exactly one batch.
    members = [i for b in batches for i in b.members]
    assert sorted(members) == list(range(len(ranges)))

    for batch in batches:
        items = sorted((ranges[i] for i in batch.members), key=lambda r: (r.start, r.end))
        # The batch covers its members and is exactly their hull (no wasted bytes at the ends).
        assert batch.start == items[0].start
        assert batch.end == max(r.end for r in items)
        # Walking members in offset order, each join that is not an overlap obeys the gap
        # rule and the size rule; so a batch grows past coalesce_max only through one range
        # or through overlapping ranges.
        reach = items[0].end
        for item in items[1:]:
            if item.start >= reach:
                assert item.start - reach <= coalesce_gap
                assert max(reach, item.end) - batch.start <= coalesce_max
            reach = max(reach, item.end)

    # Sorted output, batches disjoint; neighbours stay apart only for a reason.
    for left, right in itertools.pairwise(batches):
        assert left.start <= right.start
        assert right.start >= left.end
        first = min((ranges[i] for i in right.members), key=lambda r: (r.start, r.end))
        too_far = first.start - left.end > coalesce_gap
        too_big = max(left.end, first.end) - left.start > coalesce_max
        assert too_far or too_big


@settings(max_examples=100, deadline=None)
@given(ranges=range_lists(), limits=limits)
def test_cut_recovers_every_member(ranges: list[ByteRange], limits: tuple[int, int]) -> None:
    def byte_at(offset: int) -> int:
        return (offset * 7 + offset // 251) % 256

    for batch in plan(ranges, coalesce_gap=limits[0], coalesce_max=limits[1]):
        if batch.size > 200_000:
            continue
        response = bytes(byte_at(o) for o in range(batch.start, batch.end))
        for i in batch.members:
            r = ranges[i]
            assert bytes(batch.cut(response, r)) == bytes(byte_at(o) for o in range(r.start, r.end))


@settings(max_examples=100, deadline=None)
@given(ranges=range_lists())
def test_plan_is_independent_of_input_order(ranges: list[ByteRange]) -> None:
    forward = plan(ranges, coalesce_gap=100, coalesce_max=5000)
    backward = plan(ranges[::-1], coalesce_gap=100, coalesce_max=5000)
    n = len(ranges)
    assert [(b.start, b.end) for b in forward] == [(b.start, b.end) for b in backward]
    assert [sorted(b.members) for b in forward] == [
        sorted(n - 1 - i for i in b.members) for b in backward
    ]


def test_max_waste_bridges_only_cheap_gaps() -> None:
    """Small chunks scattered among another array's (task order): bridging every 64 KiB
    gap would move the other chunks too; ``max_waste`` keeps gaps within a share."""
    ranges = [ByteRange(i * 2000, i * 2000 + 1000) for i in range(10)]  # 1000 wanted, 1000 not
    assert len(plan(ranges, coalesce_gap=65536)) == 1
    assert len(plan(ranges, coalesce_gap=65536, max_waste=0.05)) == 10
    near = [ByteRange(i * 1010, i * 1010 + 1000) for i in range(10)]  # 10-byte gaps: 1%
    assert len(plan(near, coalesce_gap=65536, max_waste=0.05)) == 1


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 10**4)), min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_max_waste_bounds_every_batch(items: list[tuple[int, int]]) -> None:
    ranges = [ByteRange(start, start + size) for start, size in items]
    for batch in plan(ranges, coalesce_gap=65536, max_waste=0.1):
        wanted = _union(ranges[i] for i in batch.members)
        assert batch.end - batch.start - wanted <= 0.1 * wanted + 1e-9


def _union(ranges: Iterable[ByteRange]) -> int:
    total, reach = 0, -1
    for r in sorted(ranges, key=lambda r: r.start):
        if r.end > reach:
            total += r.end - max(r.start, reach)
            reach = r.end
    return total
