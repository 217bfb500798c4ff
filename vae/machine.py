"""What this machine gives a training process: CPU, oneDNN, the convolution path, GPUs.

TensorFlow decides by itself, as it loads, whether its CPU kernels are oneDNN's: on where
``TF_ENABLE_ONEDNN_OPTS`` says 1, off where it says 0, and otherwise on only on Linux x86 CPUs
with one of ``ONEDNN_DEFAULT_FEATURES``. The training works either way
(:class:`vae.fused._FusedConv1D` runs its dilated convolutions by phases where the kernels do
not dilate), but at different speeds, so the state and its reason are worth a line in every
bug report. Reading them needs TensorFlow imported; nothing here starts its runtime except
:func:`gpus`.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from vae.fused import BY_PHASES, NATIVE, dilation_path

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
# The CPU features with which TensorFlow turns oneDNN on by itself on Linux x86 (any of them).
ONEDNN_DEFAULT_FEATURES = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile")
# The CPU features that decide TensorFlow's speed and its oneDNN default, as /proc/cpuinfo
# names them.
CPU_FEATURES = ("avx", "avx2", "fma", "avx512f", *ONEDNN_DEFAULT_FEATURES)
# What each fused op of vae.fused runs as on a GPU (TensorFlow's CUDA build): no GPU can be
# tried where vae-search is developed, so this is what the kernels are registered as.
GPU_KERNELS = (
    "Conv2D with dilations -> cuDNN convolution (forward, backward data, backward filter)",
    "FusedBatchNormV3 -> cuDNN batch normalization (training and inference)",
    "ResourceApplyAdam -> TensorFlow's fused Adam CUDA kernel, one per variable",
)

DILATION_PATHS = {
    NATIVE: "the kernels dilate: a dilated Conv2D",
    BY_PHASES: "TensorFlow's kernels refuse a dilated gradient: an undilated Conv2D over phases",
}


@dataclass(frozen=True)
class Cpu:
    name: str
    features: tuple[str, ...]  # those of CPU_FEATURES it has; empty where unknown
    known: bool  # whether the features could be read (/proc/cpuinfo)


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_mib: int | None  # what TensorFlow may allocate on it
    memory_growth: bool


def cpu() -> Cpu:
    """The CPU's model name and features, from /proc/cpuinfo where there is one."""
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        return Cpu(platform.processor() or platform.machine(), (), known=False)
    fields: dict[str, str] = {}
    for line in info.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
        if key.strip() == "flags":
            break  # the first processor's: all cores of a machine have the same
    flags = set(fields.get("flags", "").split())
    name = fields.get("model name") or platform.processor() or platform.machine()
    return Cpu(name, tuple(f for f in CPU_FEATURES if f in flags), known="flags" in fields)


def onednn_enabled() -> bool | None:
    """Whether the TensorFlow loaded in this process runs oneDNN's CPU kernels (None: cannot
    tell, on a TensorFlow without the flag)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def onednn_reason(cpu_info: Cpu) -> str:
    """Why oneDNN is on or off here: the variable a user set, or TensorFlow's default rule."""
    value = os.environ.get(ONEDNN_VARIABLE)
    if value is not None:
        return f"{ONEDNN_VARIABLE}={value} is set"
    if not (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")):
        return f"TensorFlow's default off {sys.platform} {platform.machine()}"
    if not cpu_info.known:
        return "TensorFlow's default (this CPU's features cannot be read)"
    present = [f for f in ONEDNN_DEFAULT_FEATURES if f in cpu_info.features]
    if present:
        return f"TensorFlow's default on a CPU with {', '.join(present)}"
    return f"TensorFlow's default on a CPU without {', '.join(ONEDNN_DEFAULT_FEATURES)}"


def gpus() -> tuple[Gpu, ...]:
    """The GPUs TensorFlow sees, with their memory; starts TensorFlow's runtime (after
    ``vae.training.configure_tensorflow`` has turned memory growth on)."""
    import tensorflow as tf
    from tensorflow.python.client import device_lib

    found = tf.config.list_physical_devices("GPU")
    if not found:
        return ()
    limits = [d.memory_limit for d in device_lib.list_local_devices() if d.device_type == "GPU"]
    return tuple(
        Gpu(
            tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name),
            limits[i] // 2**20 if i < len(limits) else None,
            bool(tf.config.experimental.get_memory_growth(gpu)),
        )
        for i, gpu in enumerate(found)
    )


@dataclass(frozen=True)
class Machine:
    """What :func:`machine` found; ``summary`` is the line ``run`` and the notebook print."""

    python: str
    tensorflow: str
    keras: str
    cpu: Cpu
    onednn: bool | None
    onednn_reason: str
    dilation: str
    gpus: tuple[Gpu, ...]

    def summary(self) -> str:
        devices = (
            f"{len(self.gpus)} GPU(s): " + ", ".join(g.name for g in self.gpus)
            if self.gpus
            else "no GPU"
        )
        return (
            f"TensorFlow {self.tensorflow} on {self.cpu.name}: oneDNN {_on_off(self.onednn)} "
            f"({self.onednn_reason}), dilated convolutions {self.dilation}, {devices}"
        )

    def lines(self) -> list[str]:
        features = ", ".join(self.cpu.features) if self.cpu.known else "unknown"
        lines = [
            f"Python {self.python}, TensorFlow {self.tensorflow}, Keras {self.keras}",
            f"CPU: {self.cpu.name}; features that matter: {features or 'none of them'}",
            f"oneDNN: {_on_off(self.onednn)} ({self.onednn_reason}){self._onednn_hint()}",
            f"dilated convolutions: {self.dilation} ({DILATION_PATHS[self.dilation]})",
        ]
        if not self.gpus:
            return [*lines, "GPUs: none seen (training runs on the CPU)"]
        lines += [
            f"GPU {i}: {g.name}, {_mib(g.memory_mib)}, memory growth "
            f"{'on' if g.memory_growth else 'off'}"
            for i, g in enumerate(self.gpus)
        ]
        return [*lines, *(f"  {kernel}" for kernel in GPU_KERNELS)]

    def _onednn_hint(self) -> str:
        """Where TensorFlow's own rule left oneDNN off on an x86 Linux CPU: how to turn it on
        (README, "Every CPU": faster epochs, measured with oneDNN limited to AVX2)."""
        if self.onednn is not False or not self.onednn_reason.startswith("TensorFlow's default"):
            return ""
        if not (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")):
            return ""
        return f"; export {ONEDNN_VARIABLE}=1 to train on oneDNN (faster epochs; see README)"


def _on_off(value: bool | None) -> str:
    return {True: "on", False: "off", None: "unknown"}[value]


def _mib(value: int | None) -> str:
    return "memory unknown" if value is None else f"{value:,} MiB usable"


def machine(with_gpus: bool = True) -> Machine:
    """This process's machine; ``with_gpus=False`` leaves TensorFlow's runtime unstarted
    (a process that forks must not have started CUDA)."""
    cpu_info = cpu()
    return Machine(
        python=platform.python_version(),
        tensorflow=metadata.version("tensorflow"),
        keras=metadata.version("keras"),
        cpu=cpu_info,
        onednn=onednn_enabled(),
        onednn_reason=onednn_reason(cpu_info),
        dilation=dilation_path(),
        gpus=gpus() if with_gpus else (),
    )
