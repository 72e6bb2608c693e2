"""Ablation resilience: remove a growing fraction of recurrent connections and score what is left.

A connection is a non-zero entry W[i, j] of a network's unit-to-unit matrix (from presynaptic
neuron j to postsynaptic neuron i): for a fitted network its ``effective_connectivity()``, which
is the recurrent matrix W itself unless the spiking network has the full readout (then W @ W_out,
and removing (i, j) removes both W[i, j] and the readout's W_out[i, j], i != j: see
neurocircuit.models.activity; a pair whose effective entry is 0, possible where W is sparse, is
no connection, so its W_out entry stays).

Classes. A connection is excitatory when its entry in that matrix is positive and inhibitory
when it is negative: in a Dale network the presynaptic neuron's sign, in a non-Dale network each
connection's own. E–I balance makes an inhibitory weight about n_exc / n_inh (4 at 80/20) times
an excitatory one, so any order by raw |W| across both classes mostly removes inhibition first
(at initialisation, 80/20, ~96 % of the first 10 % of "strongest global" removals are
inhibitory). The default orders therefore rank each class within itself.

Orders of removal (``strategy``):

- ``random``: a uniformly random order over all connections (one per repeat seed);
- ``excitatory_only`` / ``inhibitory_only``: a random order over that class only (seeded like
  ``random``, with repeats); a fraction f removes round(f · n_class) of that class and nothing
  of the other;
- ``strongest`` / ``weakest`` (sign-aware, the defaults): each connection's class-normalised
  magnitude is |W| divided by its class's mean |W|; each class is ordered by it (largest first /
  smallest first; ties by flat index), which gives each connection its within-class rank r
  (0-based) among the n_c connections of its class. The removal order sorts all connections by
  their within-class quantile (r + 0.5) / n_c, ties by the class-normalised magnitude (in the
  strategy's direction), then by flat index. Removing the first k connections so removes from
  each class the share k / n of it, to within one connection (Webster's apportionment);
- ``hubs`` (sign-aware): neurons ranked by total class-normalised strength, the sum of the
  class-normalised magnitudes of their incoming and outgoing connections, strongest first
  (ties by neuron index); a connection belongs to the higher-ranked of its two neurons, and
  within a hub its connections go largest class-normalised magnitude first. That order gives the
  within-class ranks, merged by quantile as above (ties by the position in the hub order), so a
  fraction removes the same share of each class while the hubs' connections still go first;
- ``strongest_global`` / ``weakest_global`` / ``hubs_global``: the same orders on raw |W|
  across both classes (the orders before sign-aware ranking; ties by flat index), without the
  class balancing: they mix "strong" with "inhibitory".

Removing a fraction f removes round(f · n) connections from the front of the order (n: all
connections, or the class's for the ``*_only`` orders). Every point records the inhibitory share
of what it removed: the inhibitory |W| removed over all |W| removed (NaN when nothing is). The
network is then scored (pVar of its rollout) and compared with the intact one; the area under the
pVar-ratio curve (ratios floored at 0: a rollout worse than the time-mean has lost everything)
summarises each curve, and :func:`summarise_ablations` compares networks that differ in one
factor only (Welch's t-tests, Holm–Bonferroni across all tests, Cohen's d with a bootstrap
interval; see neurocircuit.statistics).

Modules: :mod:`.orders` (the orders and masks), :mod:`.curves` (curves, areas, the fitted
networks' curves), :mod:`.summary` (the summary table and its tests), :mod:`.resilience`
(NeuroTorch's resilience protocol and the mean-drive control; batched rollouts in
:mod:`.resilience_rollout`, the teacher's curves in :mod:`.resilience_teacher`).
"""

from neurocircuit.ablation.curves import (
    RATIO_FLOOR_FOR_AREA,
    ablate_fitted_model,
    ablation_curves,
    area_under_curve,
    curve_areas,
    rollout_score_function,
    write_ablation_curves,
)
from neurocircuit.ablation.orders import (
    ALL_STRATEGIES,
    CLASS_STRATEGIES,
    GLOBAL_STRATEGIES,
    REPEATED_STRATEGIES,
    STRATEGIES,
    ablate_connections,
    ablation_mask,
    class_normalised_magnitude,
    inhibitory_share,
    n_removed,
    removal_order,
)
from neurocircuit.ablation.resilience import (
    AREA_COLUMNS,
    CONTROLS,
    CURVE_COLUMNS,
    PAPER_LEVELS,
    PAPER_REPEATS,
    RESILIENCE_STRATEGIES,
    resilience_areas,
    resilience_curve,
    truncated_area,
)
from neurocircuit.ablation.resilience_teacher import teacher_resilience_curve
from neurocircuit.ablation.summary import (
    FACTORS,
    LEVEL_ORDER,
    TESTED_METRICS,
    factor_comparisons,
    summarise_ablation_files,
    summarise_ablations,
)

__all__ = [
    "ALL_STRATEGIES",
    "AREA_COLUMNS",
    "CONTROLS",
    "CURVE_COLUMNS",
    "PAPER_LEVELS",
    "PAPER_REPEATS",
    "RESILIENCE_STRATEGIES",
    "CLASS_STRATEGIES",
    "FACTORS",
    "GLOBAL_STRATEGIES",
    "LEVEL_ORDER",
    "RATIO_FLOOR_FOR_AREA",
    "REPEATED_STRATEGIES",
    "STRATEGIES",
    "TESTED_METRICS",
    "ablate_connections",
    "ablate_fitted_model",
    "ablation_curves",
    "ablation_mask",
    "area_under_curve",
    "class_normalised_magnitude",
    "curve_areas",
    "factor_comparisons",
    "inhibitory_share",
    "n_removed",
    "removal_order",
    "resilience_areas",
    "resilience_curve",
    "rollout_score_function",
    "summarise_ablation_files",
    "summarise_ablations",
    "teacher_resilience_curve",
    "truncated_area",
    "write_ablation_curves",
]
