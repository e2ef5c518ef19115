"""Latency histograms: a recorder cheap enough for the request hot path, laid out exactly
like an HdrHistogram of 1 µs .. 1 hour at 3 significant digits, so that a worker's counts
become a real ``HdrHistogram`` (encoded, sent to the parent, merged) without loss.

``hdrh.HdrHistogram.record_value`` is pure Python (five method calls per value, about
1.5 µs); the bucket index below is three integer operations inlined by the caller."""

from __future__ import annotations

from bisect import bisect_right

from hdrh.histogram import HdrHistogram

from django_pareto.load.model import LatencySummary

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3

# The layout of HdrHistogram(1, 1 hour, 3): 2048 sub-buckets, half of them per bucket after
# the first. ``bucket_index(v)`` below is hdrh's _counts_index_for(v) for this layout.
SUB_BUCKET_MASK = 2047  # sub_bucket_count - 1 (unit magnitude 0)
SUB_BUCKET_BITS = 11  # log2(sub_bucket_count)
HALF_COUNT_BITS = 10
HALF_COUNT = 1024


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


COUNTS_LEN: int = new_histogram().counts_len


def bucket_index(value_us: int) -> int:
    """The counts index of a value; the hot path inlines these two lines."""
    shift = (value_us | SUB_BUCKET_MASK).bit_length() - SUB_BUCKET_BITS
    return ((shift + 1) << HALF_COUNT_BITS) + (value_us >> shift) - HALF_COUNT


def value_from_index(index: int) -> int:
    """The lowest value of the bucket at ``index`` (hdrh's get_value_from_index)."""
    shift = (index >> HALF_COUNT_BITS) - 1
    sub_bucket = (index & (HALF_COUNT - 1)) + HALF_COUNT
    if shift < 0:
        sub_bucket -= HALF_COUNT
        shift = 0
    return sub_bucket << shift


def bucket_width(index: int) -> int:
    return 1 << max((index >> HALF_COUNT_BITS) - 1, 0)


def counts_of(histogram: HdrHistogram) -> list[int]:
    """A copy of the bucket counts of a histogram of this layout. Reading them in one pass
    beats hdrh's iterators (``get_mean_value`` alone takes 0.15 s of Python)."""
    counts = list(histogram.counts)
    assert len(counts) == COUNTS_LEN
    return counts


class Recorder:
    """Counts per bucket in a plain list (``counts[i] += 1`` is the cheapest increment
    Python has). ``record`` is for cold paths; the hot path inlines ``bucket_index``."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: list[int] = [0] * COUNTS_LEN

    @classmethod
    def of(cls, histogram: HdrHistogram) -> Recorder:
        recorder = cls()
        recorder.counts = counts_of(histogram)
        return recorder

    def record(self, value_us: int, count: int = 1) -> None:
        value_us = min(max(value_us, 0), HIGHEST_US)
        self.counts[bucket_index(value_us)] += count

    def to_histogram(self) -> HdrHistogram:
        histogram = new_histogram()
        for index, count in enumerate(self.counts):
            if count:
                histogram.record_value(value_from_index(index), count)
        return histogram


def encode(histogram: HdrHistogram) -> bytes:
    encoded: bytes = histogram.encode()
    return encoded


def decode(encoded: bytes) -> HdrHistogram:
    return HdrHistogram.decode(encoded)


def corrected_for_omission(histogram: HdrHistogram, interval_us: int) -> HdrHistogram:
    """A copy with the samples a closed loop could not send while it waited.

    HdrHistogram's copyCorrectedForCoordinatedOmission (and wrk, at the end of its run) add,
    for each value v above the expected interval i, the values v - i, v - 2i, ... down to i:
    floor(v / i) - 1 samples. Done one by one that is v / i steps per bucket, seconds of
    Python for a 10 s outlier over a 0.5 ms interval. Here each v adds its samples as a
    uniform density 1/i over [i, v - i/2), which gives floor(v / i) - 1 samples on average
    over v's position within an interval; the density is summed per bucket (a running
    total rounded, so counts stay whole) in one pass over the buckets, whatever v / i is."""
    corrected = Recorder.of(histogram)
    values: list[int] = []  # each bucket's highest value, as HdrHistogram's copy takes
    counts: list[int] = []
    for index, count in enumerate(corrected.counts):
        if count:
            values.append(value_from_index(index) + bucket_width(index) - 1)
            counts.append(count)
    interval = int(interval_us)
    if interval <= 0 or not values:
        return corrected.to_histogram()

    # Work in half-microseconds so i/2 is whole: every number below is an exact integer.
    # area(y) = integral from 0 to y of "count of values above t" dt = sum of c * min(2v, y)
    doubled = [2 * v for v in values]
    below_area, below_count = [0], [0]
    for v2, c in zip(doubled, counts, strict=True):
        below_area.append(below_area[-1] + c * v2)
        below_count.append(below_count[-1] + c)
    total = below_count[-1]

    def area(y2: int) -> int:
        k = bisect_right(doubled, y2)
        return below_area[k] + y2 * (total - below_count[k])

    top2 = doubled[-1] - interval  # 2 * (max v - i/2): no density above
    added = numerator = 0
    index = bucket_index(interval)
    while index + 1 < COUNTS_LEN:
        low2, next2 = 2 * value_from_index(index), 2 * value_from_index(index + 1)
        if low2 >= top2:
            break
        start2, end2 = max(low2, 2 * interval), min(next2, top2)
        if end2 > start2:
            # samples here: (area(end + i/2) - area(start + i/2)) / i, in doubled units
            numerator += area(end2 + interval) - area(start2 + interval)
            # the running total, rounded (half down: a sample lands once it is past half)
            whole = (numerator + interval - 1) // (2 * interval)
            if whole > added:
                corrected.counts[index] += whole - added
                added = whole
        index += 1
    return corrected.to_histogram()


PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}


def summarize(histogram: HdrHistogram) -> LatencySummary:
    """Mean, percentiles and max in ms, by HdrHistogram's definitions: a percentile is the
    highest value of the bucket where the running count reaches it, the mean weighs each
    bucket's middle value."""
    counts = counts_of(histogram)
    total = sum(counts)
    if not total:
        return LatencySummary()
    pending = sorted(PERCENTILES.items(), key=lambda item: item[1])
    targets = [(name, max(int(p * total / 100 + 0.5), 1)) for name, p in pending]
    found: dict[str, float] = {}
    running = weighted = highest = 0
    for index, count in enumerate(counts):
        if not count:
            continue
        low, width = value_from_index(index), bucket_width(index)
        weighted += (low + width // 2) * count
        running += count
        highest = low + width - 1
        while targets and running >= targets[0][1]:
            found[targets.pop(0)[0]] = highest / 1000
    return LatencySummary(count=total, mean=weighted / total / 1000, max=highest / 1000, **found)
