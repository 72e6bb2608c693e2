"""One neuron, one row: merging ROIs seen in adjacent planes; scoring against ground truth."""

import numpy as np
import pytest
from neurocircuit.imaging.evaluate import match_positions, pearson_rows, score_against_truth
from neurocircuit.imaging.merge import mask_overlap, merge_across_planes, trace_snr

STRIDE = 1000


def disk(cy, cx, r=4):
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    inside = yy**2 + xx**2 <= r**2
    return (yy[inside] + cy) * STRIDE + (xx[inside] + cx)


def signal(seed, n_frames=400):
    rng = np.random.default_rng(seed)
    spikes = rng.random(n_frames) < 0.03
    return np.convolve(spikes, np.exp(-np.arange(30) / 8.0))[:n_frames]


def noisy(trace, sd, seed):
    return trace + np.random.default_rng(seed).normal(0, sd, trace.shape)


def test_mask_overlap_over_the_smaller_mask():
    a = np.array([1, 2, 3, 4])
    assert mask_overlap(a, np.array([3, 4])) == 1.0
    assert mask_overlap(a, np.array([4, 5, 6, 7])) == 0.25
    assert mask_overlap(a, np.array([], dtype=int)) == 0.0


def test_same_soma_in_adjacent_planes_is_one_row_with_the_cleaner_roi():
    s = signal(0)
    traces = np.array([noisy(s, 0.3, 1), noisy(0.5 * s, 0.3, 2), noisy(signal(5), 0.3, 3)])
    planes = [0, 1, 1]
    centers = [(20, 20), (21, 20), (60, 60)]
    pixels = [disk(20, 20), disk(21, 20), disk(60, 60)]
    result = merge_across_planes(planes, centers, pixels, traces)
    assert [g.tolist() for g in result.groups] == [[0, 1], [2]]
    assert result.representative.tolist() == [0, 2]  # plane 0 copy has twice the signal
    assert result.n_merged == 1 and result.pairs.tolist() == [[0, 1]]


@pytest.mark.parametrize(
    "planes, centers, second_trace",
    [
        ([0, 1], [(20, 20), (40, 40)], "same"),  # correlated but far apart
        ([0, 1], [(20, 20), (20, 21)], "other"),  # overlapping but independent neurons
        ([0, 0], [(20, 20), (20, 21)], "same"),  # one plane: never merged
        ([0, 2], [(20, 20), (20, 21)], "same"),  # two planes apart (max_plane_gap = 1)
    ],
)
def test_not_merged(planes, centers, second_trace):
    s = signal(0)
    other = s if second_trace == "same" else signal(9)
    traces = np.array([noisy(s, 0.2, 1), noisy(other, 0.2, 2)])
    pixels = [disk(*c) for c in centers]
    result = merge_across_planes(planes, centers, pixels, traces)
    assert len(result.groups) == 2 and result.n_merged == 0


def test_chain_across_three_planes_never_holds_two_rois_of_one_plane():
    s = signal(0)
    traces = np.array([noisy(s, 0.2, k) for k in range(4)])
    planes = [0, 1, 2, 0]  # the fourth ROI duplicates plane 0 (e.g. a split soma)
    centers = [(30, 30)] * 4
    pixels = [disk(30, 30)] * 4
    result = merge_across_planes(planes, centers, pixels, traces)
    for group in result.groups:
        assert len({planes[k] for k in group}) == len(group)
    assert sorted(len(g) for g in result.groups) == [1, 3]


def test_trace_snr_ranks_cleaner_traces_higher():
    s = signal(0)
    snr = trace_snr(np.array([noisy(s, 0.1, 1), noisy(s, 0.5, 2)]))
    assert snr[0] > 2 * snr[1]


def test_match_positions_is_one_to_one_and_gated():
    true = np.array([[0.0, 10, 10], [1.0, 30, 30], [0.5, 50, 50]])
    found = np.array([[0.0, 11, 10], [0.0, 12, 10], [2.0, 30, 30], [1.0, 50, 53]])
    f_idx, t_idx = match_positions(found, true, radius_px=5.0, max_plane_distance=1.0)
    pairs = dict(zip(t_idx.tolist(), f_idx.tolist(), strict=True))
    assert pairs == {0: 0, 1: 2, 2: 3}  # nearest wins; one plane away is allowed
    f_idx, _ = match_positions(found, true, radius_px=2.5, max_plane_distance=0.5)
    assert f_idx.tolist() == [0]


def test_score_against_truth_golden():
    rng = np.random.default_rng(0)
    true_dff = rng.random((3, 50))
    true_pos = np.array([[0.0, 10, 10], [0.0, 30, 30], [1.0, 50, 50]])
    found_pos = np.array([[0.0, 10, 11], [1.0, 50, 49]])
    dff = np.array([2 * true_dff[0] + 1, -true_dff[2]])
    score = score_against_truth(dff, found_pos, true_pos, true_dff, radius_px=3.0)
    assert score["recall"] == pytest.approx(2 / 3) and score["precision"] == 1.0
    assert score["median_corr"] == pytest.approx(0.0, abs=1e-12)  # median of +1 and -1
    assert pearson_rows(dff[:1], true_dff[:1])[0] == pytest.approx(1.0)
