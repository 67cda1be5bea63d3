"""The compiled deployed format (``.pt2``): the deployment contract compiled ahead of time by AOTInductor.

Forces are computed inside the compiled code: :func:`make_fx` with symbolic
shapes unrolls the autograd graph into plain operations (the fused kernels'
backward among them), :func:`torch.export.export` keeps the numbers of atoms and
edges dynamic, and AOTInductor compiles the result into a shared library inside
the package. The package holds these models (``docs/deployed_model.md``)::

    "forces":        (species [N] int64, edge_index [2, E] int64, edge_vectors [E, 3] float64, num_local [] int64)
                     -> (energy [], energies [N], forces [N, 3], virial [3, 3], atom_virial [N, 3, 3])   float64
    "layer{t}":      LayerFunctions.forward_layer(t, ...) for t = 0 .. T-2   (ictp.deploy.layers)
    "layer{t}_vjp":  LayerFunctions.vjp_layer(t, ...) for t = 0 .. T-1

and the extra file ``metadata.json`` (the same as the TorchScript format's).
A package runs only with the torch version, device kind and CPU instruction set it
was compiled for; :class:`CompiledModel` checks them before loading.
"""

import contextlib
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import torch

from .. import keys
from ..model import ICTP
from .layers import LayerFunctions, feature_shapes
from .module import DeployedModel

__all__ = ["MODEL_NAME", "CompiledModel", "compile_package", "read_metadata", "is_package"]

MODEL_NAME = "forces"
OUTPUTS = (keys.ENERGY, keys.ENERGIES, keys.FORCES, keys.VIRIAL, keys.ATOM_VIRIAL)


class _Traced(torch.nn.Module):
    """:meth:`DeployedModel.evaluate` with every output, as a tuple (what gets traced)."""

    def __init__(self, model: ICTP):
        super().__init__()
        self.deployed = DeployedModel(model)

    def forward(self, species, edge_index, edge_vectors, num_local):
        out = self.deployed.evaluate(species, edge_index, edge_vectors, num_local, True, True)
        return tuple(out[key] for key in OUTPUTS)


class _Layer(torch.nn.Module):
    """One layer's forward (``vjp=False``) or vector-Jacobian product, for a fixed layer ``t``."""

    def __init__(self, model: ICTP, t: int, vjp: bool):
        super().__init__()
        self.functions, self.t, self.vjp = LayerFunctions(model), t, vjp

    def forward(self, *inputs):
        if self.vjp:
            return self.functions.vjp_layer(self.t, *inputs)
        return self.functions.forward_layer(self.t, *inputs)


def layer_names(num_layers: int):
    """``(name, t, vjp)`` of the layer models of a package."""
    names = [(f"layer{t}", t, False) for t in range(num_layers - 1)]
    return names + [(f"layer{t}_vjp", t, True) for t in range(num_layers)]


@contextlib.contextmanager
def _no_duck_shapes():
    """Symbolic sizes that happen to equal a weight's size must not be merged with it (and specialised)."""
    config = torch.fx.experimental._config
    previous = config.use_duck_shape
    config.use_duck_shape = False
    try:
        yield
    finally:
        config.use_duck_shape = previous


def compile_package(model: ICTP, path: Path, metadata: Dict[str, Any], example, log: Callable[[str], None]) -> None:
    """Compile ``model`` (on its device and in its dtype) into the package ``path`` with ``metadata``.

    ``example`` = ``(species, edge_index, edge_vectors, num_local)`` of a graph to trace with, at
    least 4 atoms; the package works for any number of atoms and edges.
    """
    from torch.export.pt2_archive._package import package_pt2  # torch's own packager (extra files included)

    for parameter in model.parameters():
        parameter.requires_grad_(False)
    nodes, local, ghosts, edges = (torch.export.Dim(name, min=0) for name in ("nodes", "local", "ghosts", "edges"))
    files = {MODEL_NAME: _compile(
        _Traced(model), example, ({0: nodes}, {1: edges}, {0: edges}, None), "energy, forces and virials", log
    )}  # fmt: skip
    layer_dims = ({0: local}, {0: ghosts}, {0: local}, {0: ghosts}, {1: edges}, {0: edges})
    for name, t, vjp in layer_names(model.num_layers):
        inputs, dims = _layer_example(model, example, t, vjp), layer_dims + (({0: local},) if vjp else ())
        files[name] = _compile(_Layer(model, t, vjp), inputs, dims, f"layer {t}{' VJP' if vjp else ''}", log)
    package_pt2(str(path), aoti_files=files, extra_files={"metadata.json": json.dumps(metadata)})


def _layer_example(model: ICTP, example, t: int, vjp: bool):
    """The example graph as a rank sees it: its first half local atoms, the rest ghosts, edges into the locals;
    layer t's input features (and, for a VJP, a gradient of its output features)."""
    species, edge_index, edge_vectors, _ = example
    num_local = (species.shape[0] + 1) // 2
    into_local = edge_index[0] < num_local
    shapes = feature_shapes(model) + [[model.config.num_channels, 1]]  # the last layer puts out scalars
    h = torch.zeros(species.shape[0], *shapes[t], dtype=model.dtype, device=species.device)
    inputs = (h[:num_local], h[num_local:], species[:num_local], species[num_local:], edge_index[:, into_local],
              edge_vectors[into_local])  # fmt: skip
    if vjp:
        inputs += (torch.ones(num_local, *shapes[t + 1], dtype=model.dtype, device=species.device),)
    return inputs


def _compile(module: torch.nn.Module, example, dynamic_shapes, what: str, log: Callable[[str], None]):
    """Trace (autograd unrolled), export (dynamic sizes) and AOT-compile one function; its package files."""
    from torch.fx.experimental.proxy_tensor import make_fx

    log(f"tracing {what}")
    with _no_duck_shapes():
        graph = make_fx(module.eval(), tracing_mode="symbolic", _allow_non_fake_inputs=True)(*example)
    try:
        program = torch.export.export(graph, tuple(example), dynamic_shapes=dynamic_shapes)
    except Exception as error:  # torch raises several types for a specialised size
        raise RuntimeError(f"the model cannot be compiled for every number of atoms and edges: {error}") from error
    log(f"compiling {what} with AOTInductor (a minute or more)")
    try:
        return torch._inductor.aot_compile(program.module(), tuple(example), options={"aot_inductor.package": True})
    except Exception as error:  # Inductor's errors have many types
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise RuntimeError(
            f"AOTInductor could not compile this model ({type(error).__name__}: {reason}); write a TorchScript "
            "file instead (a .pth output), which needs no compiler"
        ) from error


def is_package(path) -> bool:
    """True for a zip archive holding AOTInductor files (a ``.pt2`` package), whatever its name."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/data/aotinductor/" in name for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_metadata(path) -> Optional[Dict[str, Any]]:
    """The ``metadata.json`` of a package or TorchScript file, read without loading any code; None if absent."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if n.endswith("/extra/metadata.json")), None)
            return json.loads(archive.read(name)) if name else None
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


class CompiledModel:
    """A loaded ``.pt2`` package, called like :class:`DeployedModel`.

    Raises ValueError before loading when the package was compiled for another torch
    version, device kind or CPU instruction set (re-run ``ictp-deploy`` on this machine).
    """

    def __init__(self, path, metadata: Dict[str, Any], device: torch.device):
        problem = compatibility_problem(metadata, device)
        if problem:
            raise ValueError(f"{path} was compiled for {problem}; re-run ictp-deploy on this machine to compile it here")
        if device.type == "cpu":
            from .. import kernels

            kernels.load()
        self.path, self.device = str(path), device
        self.runners = {MODEL_NAME: self._load(MODEL_NAME)}

    def _load(self, name: str):
        from torch._inductor.package import load_package

        index = self.device.index if self.device.index is not None else -1
        return load_package(self.path, name, device_index=index)

    def _runner(self, name: str):
        if name not in self.runners:
            self.runners[name] = self._load(name)
        return self.runners[name]

    def forward_layer(self, t: int, *inputs):
        """:meth:`ictp.deploy.layers.LayerFunctions.forward_layer` (``t`` below the last layer)."""
        return tuple(self._runner(f"layer{t}")(*inputs))

    def vjp_layer(self, t: int, *inputs):
        """:meth:`ictp.deploy.layers.LayerFunctions.vjp_layer`."""
        return tuple(self._runner(f"layer{t}_vjp")(*inputs))

    def __call__(self, species, edge_index, edge_vectors, num_local: int, compute_virial=False, compute_atom_virial=False):
        local = torch.tensor(num_local, dtype=torch.long, device=species.device)
        outputs = dict(zip(OUTPUTS, self.runners[MODEL_NAME](species, edge_index, edge_vectors, local)))
        out = {keys.ENERGY: outputs[keys.ENERGY], keys.ENERGIES: outputs[keys.ENERGIES][:num_local],
               keys.FORCES: outputs[keys.FORCES]}  # fmt: skip
        if compute_virial:
            out[keys.VIRIAL] = outputs[keys.VIRIAL]
        if compute_atom_virial:
            out[keys.ATOM_VIRIAL] = outputs[keys.ATOM_VIRIAL]
        return out


# Inductor's names of instruction sets -> the /proc/cpuinfo flags a CPU needs for them (checked in C++ too)
CPU_FLAGS = {
    "avx2": ["avx2", "fma"], "avx512": ["avx512f", "avx512bw", "avx512vl", "avx512dq"],
    "avx512_vnni": ["avx512_vnni"], "amx_tile": ["amx_tile", "amx_bf16", "amx_int8"],
}  # fmt: skip


def machine() -> Dict[str, Any]:
    """What a package depends on besides its own code: torch version and CPU instruction set."""
    from torch._inductor.cpu_vec_isa import pick_vec_isa

    isa = str(pick_vec_isa())
    flags = sorted({flag for name in isa.split() for flag in CPU_FLAGS.get(name, [])})
    return {"torch_version": torch.__version__, "cpu_isa": isa, "cpu_flags": flags}


def compatibility_problem(metadata: Dict[str, Any], device: torch.device) -> str:
    """Why a package with ``metadata`` cannot run on ``device`` here ('' if it can)."""
    from torch._inductor.cpu_vec_isa import valid_vec_isa_list

    compiled = metadata.get("compiled", {})
    here = machine()
    if compiled.get("torch_version") != here["torch_version"]:
        return f"torch {compiled.get('torch_version')}, and this is torch {here['torch_version']}"
    if compiled.get("device") != device.type:
        return f"device {compiled.get('device')}, not {device.type}"
    isa = compiled.get("cpu_isa", "")
    if device.type == "cpu" and isa not in ("", "None") and isa not in {str(v) for v in valid_vec_isa_list()}:
        return f"CPUs with the {isa} instruction set, which this CPU ({here['cpu_isa'] or 'no vector unit'}) lacks"
    return ""


def compiled_info(device: torch.device) -> Dict[str, str]:
    """The ``compiled`` entry of a package's metadata."""
    return {**machine(), "device": device.type}


def temporary_package(folder: Path) -> Path:
    """A fresh ``.pt2`` name in ``folder`` (the packager insists on the suffix)."""
    return Path(tempfile.mkdtemp(dir=folder)) / "model.pt2"
