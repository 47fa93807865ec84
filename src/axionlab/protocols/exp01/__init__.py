"""EXP-01, forgetting vs loss-landscape topology: config, protocol, analysis and report.

Units are dataset × architecture × seed. Each unit runs these cached phases
(:mod:`.protocol`), each one call into the library:

1. ``task_a``: train on the first classes of the dataset (task A;
   :func:`axionlab.continual.learn_task`).
2. ``plane_<s>`` for each slice s: the task-A loss on a 2-D plane through the trained weights
   along two filter-normalised Gaussian directions (Li et al. 2018), in eval mode, with an odd
   grid so the trained point is the centre (:func:`axionlab.landscape.loss_plane`).
3. ``topology_<s>``: sublevel-set persistence of that plane (cubical H0/H1), summary features,
   the lab's legacy graph statistic and the window's mean loss
   (:func:`axionlab.topology.plane_topology`).
4. ``curvature``: Hessian top eigenvalue and trace, Fisher trace and (adaptive) sharpness on
   task A (:func:`axionlab.landscape.curvature_profile`).
5. ``structure``: predictors that need no topology: weight-matrix spectra, neural collapse NC1–NC4
   of the penultimate task-A features (:func:`axionlab.collapse.structure.structure_profile`),
   basin radii along random directions and the centre's sublevel area on slice 0
   (:func:`axionlab.landscape.plane_basins`).
6. ``forget_<strategy>`` for each strategy: the head expanded to all classes (class-incremental),
   the penalty's stability check under task B's optimizer, then task B by SGD with task-A accuracy
   at the configured steps; retention ret@k = acc_A(k)/acc_A(0) and AURC
   (:func:`axionlab.continual.forgetting_curve`).

Divergence and undefined outcomes are states, not numbers: a task A whose training diverged gets
no later phase (its predictors and outcomes are ``nan`` with reason ``task_a_diverged``); a
diverged task-B strategy, or one whose task-A accuracy is 0 at step 0, has ``nan`` AURC, ret@k
and benefit with the reason in ``units.csv``. The run completes; the analysis (:mod:`.analysis`)
counts only defined rows and the report (:mod:`.report`) names every excluded unit and reason.
"""
