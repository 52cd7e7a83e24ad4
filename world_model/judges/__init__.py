"""Judges: from an unfinished episode, the probability that it will end in success.

- :mod:`~world_model.judges.episodes`: labelled whole episodes from a mix of behaviour policies;
- :mod:`~world_model.judges.judge`: the judge network (privileged or blind), training, files;
- :mod:`~world_model.judges.calibration`: AUROC, Brier score and calibration at a fraction of each episode;
- :mod:`~world_model.judges.pipeline`: both judges trained on the same episodes and measured;
- :mod:`~world_model.judges.differential`: where the privileged and the blind judge disagree;
- :mod:`~world_model.judges.shaping`: potential-based reward shaping with a judge;
- :mod:`~world_model.judges.goodhart`: the monitor that flags a policy fooling its judge.
"""
