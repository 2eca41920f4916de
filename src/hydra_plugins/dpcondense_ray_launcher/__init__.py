"""Registers dpcondense's Ray launcher with Hydra (``hydra/launcher=ray``).

Hydra instantiates launchers only from classes defined in the ``hydra_plugins`` package; the
launcher itself, documented there, is :mod:`dpcondense.benchmark.ray_launcher` (it imports
``ray`` only when a sweep is launched, so this registration costs nothing without the extra).
"""

from dpcondense.benchmark import ray_launcher as _impl


class RayLauncher(_impl.RayLauncher):
    """:class:`dpcondense.benchmark.ray_launcher.RayLauncher`, under the name Hydra accepts."""
