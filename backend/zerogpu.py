"""ZeroGPU: on a ZeroGPU Space the model calls run inside ``spaces.GPU``; anywhere else nothing changes.

A ZeroGPU Space lends a GPU only to functions decorated with ``spaces.GPU`` (the ``spaces`` package),
for the duration each call asks for. Such a Space sets ``SPACES_ZERO_GPU=true``, the variable the
``spaces`` package itself reads (``spaces/config.py``, ``spaces`` 0.51.3). There, :func:`prepare`
imports ``spaces`` before anything touches CUDA (it patches torch so that models placed on ``cuda``
outside a GPU call move onto the GPU a call is lent), and :func:`gpu_call` decorates a function.
Anywhere else ``spaces`` is never imported and :func:`gpu_call` returns the function itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

ZERO_GPU_VARIABLE = "SPACES_ZERO_GPU"
"""Set to ``true`` by a ZeroGPU Space (read by the ``spaces`` package)."""

MAX_DURATION_S = 120
"""The longest GPU call asked for, seconds: ZeroGPU refuses calls longer than its (undocumented, a few minutes)
maximum and queues long calls behind short ones, so a probe asks for at most this."""

F = TypeVar("F", bound=Callable[..., Any])


def on_zero_gpu(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process runs on a ZeroGPU Space (``SPACES_ZERO_GPU`` is 1, t or true, as ``spaces`` reads it)."""
    return (environ.get(ZERO_GPU_VARIABLE) or "").lower() in ("1", "t", "true")


def prepare(environ: Mapping[str, str] = os.environ) -> bool:
    """On a ZeroGPU Space import ``spaces`` now, before CUDA is touched; returns whether it did."""
    if not on_zero_gpu(environ):
        return False
    import spaces  # noqa: F401  (patches torch on import)

    return True


def gpu_call(fn: F, duration: Callable[..., float], environ: Mapping[str, str] = os.environ) -> F:
    """``fn`` run inside ``spaces.GPU`` on a ZeroGPU Space, else ``fn`` itself (``spaces`` not imported).

    Args:
        fn: The function (or generator function) that calls the models.
        duration: Seconds one call needs, from the call's own arguments; capped at :data:`MAX_DURATION_S`.
        environ: Where ``SPACES_ZERO_GPU`` is read.
    """
    if not on_zero_gpu(environ):
        return fn
    import spaces

    def seconds(*args: Any, **kwargs: Any) -> int:
        return max(1, min(MAX_DURATION_S, math.ceil(duration(*args, **kwargs))))

    decorated: F = spaces.GPU(fn, duration=seconds)
    return decorated
