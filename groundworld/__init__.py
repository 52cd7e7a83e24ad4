"""Groundworld's shared layer: what the world model, the judges and the agents all build on.

- :mod:`groundworld.nn`: the language-grounded observation encoder, its parts, precision and device helpers;
- :mod:`groundworld.replay`: the one transition format (and its files) for agents, demos and world models;
- :mod:`groundworld.collect`: stepping a vector env into a replay buffer;
- :mod:`groundworld.checkpoint`: versioned checkpoints, loaded with ``weights_only=True``;
- :mod:`groundworld.runs`: run folders (a lock, ``progress.csv``, TensorBoard, the learning curve);
- :mod:`groundworld.policy`: the ``reset()``/``act(obs)`` protocol every policy follows.

It imports only :mod:`envs` (below it); ``groundworld.__main__`` is the ``groundworld`` console
script, the one module above everything (it dispatches to every layer's command line).
"""
