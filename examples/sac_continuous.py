"""SAC on a Groundworld task in one file, CleanRL style: one dataclass of arguments, a loop read top to bottom.

    python examples/sac_continuous.py --env-id Groundworld/GoTo-v0 --total-timesteps 50000

Gymnasium 1.x conventions: a ``SyncVectorEnv`` with ``AutoresetMode.SAME_STEP``, so a finished episode's last
observation is ``infos["final_obs"]`` (the returned one already starts the next episode) and its info
``infos["final_info"]``. ``envs.FlatObservation`` gives one float32 vector per step (the numeric keys and the
instruction's words, one-hot), so the networks are plain MLPs; our own agents read the ``Dict`` instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import envs


@dataclass
class Args:
    env_id: str = "Groundworld/GoTo-v0"
    """the task"""
    total_timesteps: int = 50_000
    """environment steps, all envs together"""
    num_envs: int = 4
    """parallel environments"""
    seed: int = 1
    """seed of envs, networks and sampling"""
    buffer_size: int = 200_000
    """replay capacity"""
    gamma: float = 0.99
    """discount"""
    tau: float = 0.005
    """target network update rate"""
    batch_size: int = 256
    """batch size of each update"""
    learning_starts: int = 2_000
    """steps of random actions before learning"""
    policy_lr: float = 3e-4
    """actor learning rate"""
    q_lr: float = 1e-3
    """critic learning rate"""
    alpha_lr: float = 1e-3
    """entropy temperature learning rate"""
    threads: int = 1
    """torch CPU threads (1 leaves the other cores to the environments)"""


def parse_args(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for f in dataclasses.fields(Args):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    return Args(**vars(parser.parse_args(argv)))


def make_env(env_id: str) -> gym.Env:
    return gym.wrappers.RecordEpisodeStatistics(envs.FlatObservation(gym.make(env_id, reward_mode="dense")))


class SoftQNetwork(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim + act_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                 nn.Linear(256, 1))  # fmt: skip

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, act], 1))


class Actor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(obs_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU())
        self.mean, self.log_std = nn.Linear(256, act_dim), nn.Linear(256, act_dim)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(sampled action in [-1, 1], its log-probability, the deterministic action)."""
        h = self.trunk(obs)
        mean, log_std = self.mean(h), self.log_std(h).clamp(-5, 2)
        normal = torch.distributions.Normal(mean, log_std.exp())
        x = normal.rsample()
        action = torch.tanh(x)
        log_prob = (normal.log_prob(x) - torch.log(1 - action.pow(2) + 1e-6)).sum(1, keepdim=True)
        return action, log_prob, torch.tanh(mean)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    vec = gym.vector.SyncVectorEnv(
        [lambda: make_env(args.env_id)] * args.num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    obs_dim, act_dim = vec.single_observation_space.shape[0], vec.single_action_space.shape[0]
    actor = Actor(obs_dim, act_dim)
    qf1, qf2 = SoftQNetwork(obs_dim, act_dim), SoftQNetwork(obs_dim, act_dim)
    qf1_target, qf2_target = SoftQNetwork(obs_dim, act_dim), SoftQNetwork(obs_dim, act_dim)
    qf1_target.load_state_dict(qf1.state_dict())
    qf2_target.load_state_dict(qf2.state_dict())
    q_optimizer = torch.optim.Adam([*qf1.parameters(), *qf2.parameters()], lr=args.q_lr)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=args.policy_lr)
    target_entropy = -float(act_dim)
    log_alpha = torch.zeros(1, requires_grad=True)
    a_optimizer = torch.optim.Adam([log_alpha], lr=args.alpha_lr)

    # replay: plain arrays
    size = args.buffer_size
    buf_obs, buf_next = np.zeros((size, obs_dim), np.float32), np.zeros((size, obs_dim), np.float32)
    buf_act, buf_rew = np.zeros((size, act_dim), np.float32), np.zeros(size, np.float32)
    buf_term, pos, full = np.zeros(size, np.float32), 0, False

    obs, _ = vec.reset(seed=args.seed)
    returns, successes, start = [], [], time.time()
    for global_step in range(0, args.total_timesteps, args.num_envs):
        if global_step < args.learning_starts:
            actions = rng.uniform(-1, 1, (args.num_envs, act_dim)).astype(np.float32)
        else:
            with torch.no_grad():
                actions = actor(torch.as_tensor(obs))[0].numpy()
        next_obs, rewards, terminations, truncations, infos = vec.step(actions)

        real_next_obs = next_obs.copy()  # SAME_STEP: a finished episode's last observation is in final_obs
        for i in np.flatnonzero(terminations | truncations):
            real_next_obs[i] = infos["final_obs"][i]
            final = infos["final_info"]
            returns.append(float(final["episode"]["r"][i]))
            successes.append(bool(final["is_success"][i]))
        for i in range(args.num_envs):
            buf_obs[pos], buf_next[pos], buf_act[pos] = obs[i], real_next_obs[i], actions[i]
            buf_rew[pos], buf_term[pos] = rewards[i], terminations[i]
            pos, full = (pos + 1) % size, full or pos + 1 == size
        obs = next_obs

        if global_step >= args.learning_starts:
            idx = rng.integers(0, size if full else pos, args.batch_size)
            o, o2, a = torch.as_tensor(buf_obs[idx]), torch.as_tensor(buf_next[idx]), torch.as_tensor(buf_act[idx])
            r, d = torch.as_tensor(buf_rew[idx]), torch.as_tensor(buf_term[idx])
            alpha = log_alpha.exp().item()
            with torch.no_grad():
                next_a, next_logp, _ = actor(o2)
                min_q = torch.min(qf1_target(o2, next_a), qf2_target(o2, next_a)) - alpha * next_logp
                target = r + (1 - d) * args.gamma * min_q.view(-1)
            q_loss = F.mse_loss(qf1(o, a).view(-1), target) + F.mse_loss(qf2(o, a).view(-1), target)
            q_optimizer.zero_grad()
            q_loss.backward()
            q_optimizer.step()

            pi, logp, _ = actor(o)
            actor_loss = (alpha * logp - torch.min(qf1(o, pi), qf2(o, pi))).mean()
            actor_optimizer.zero_grad()
            actor_loss.backward()
            actor_optimizer.step()
            alpha_loss = (-log_alpha.exp() * (logp.detach() + target_entropy)).mean()
            a_optimizer.zero_grad()
            alpha_loss.backward()
            a_optimizer.step()

            for net, tgt in ((qf1, qf1_target), (qf2, qf2_target)):
                for p, tp in zip(net.parameters(), tgt.parameters(), strict=True):
                    tp.data.mul_(1 - args.tau).add_(args.tau * p.data)

        if returns and global_step % 5_000 < args.num_envs:
            sps = int((global_step + args.num_envs) / (time.time() - start))
            print(f"step {global_step}: return {np.mean(returns[-20:]):.2f}, "
                  f"success {np.mean(successes[-20:]):.2f}, {sps} steps/s")  # fmt: skip
    vec.close()
    return {"episodes": len(returns), "success": float(np.mean(successes[-20:])) if successes else 0.0}


if __name__ == "__main__":
    main()
