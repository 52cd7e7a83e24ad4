"""Reach: touch the named object with the fingertip of a planar two-link arm."""

from __future__ import annotations

from envs.goto import GoToEnv, oracle
from envs.language import Touch

__all__ = ["ReachEnv", "oracle"]  # GoTo's oracle steers the fingertip for an arm


class ReachEnv(GoToEnv):
    """
    ## Description
    A planar two-link arm stands at the front edge of the table; a vertical finger hangs
    from its end. The instruction names an object ("touch the yellow cylinder"); the
    fingertip must come within 2 cm of its surface. The finger can shove objects aside.

    ## Action Space
    ``Box(-1, 1, (2,))``: shoulder and elbow torques (0.6 and 0.3 N m at 1); clipped.

    ## Observation Space
    As in ``envs.base`` with ``proprio`` = (cos q1, sin q1, cos q2, sin q2, q1', q2',
    fingertip x, fingertip y).

    ## Rewards
    Sparse: 1 on success. Dense: ``reward_progress`` = 5 x decrease of the fingertip-object
    gap, ``reward_success``, ``reward_failure`` (target knocked off), ``reward_ctrl``.

    ## Starting State
    Objects inside the arm's reach on the table; joint angles random, fingertip clear of
    every object.

    ## Episode End
    Terminated on success or when the target falls off; truncated at 100 steps.

    ## Arguments
    See ``envs.base.EnvConfig``.

    ## Version History
    - v0: initial release.
    """

    embodiment = "arm"
    table_symmetric = False  # the arm stands at one edge of the table
    goal_type = Touch
