"""Import shim and builders for the reference implementation, ``hear21passt==0.0.26``.

hear21passt imports timm (only for a download helper) and torchaudio (only for
``compliance.kaldi.get_mel_banks``). On torch 2.13 CPU, timm pulls torchvision and torchaudio's
compiled extension fails to load, so both are replaced by minimal stand-ins in ``sys.modules``
before the import; the code paths used here never touch what the stand-ins leave out.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import io
import sys
import types
from collections.abc import Callable

import torch


def _stub(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    sys.modules[name] = module
    return module


def _no_download(*args: object, **kwargs: object) -> None:
    raise RuntimeError("the oracle never downloads weights")


def install_shims() -> None:
    """Register the timm and torchaudio-extension stand-ins (idempotent)."""
    if "timm.models._hub" not in sys.modules:
        for name in ("timm", "timm.models", "timm.models._hub"):
            _stub(name)
        sys.modules["timm.models._hub"].download_cached_file = _no_download  # type: ignore[attr-defined]
    if "torchaudio._extension" not in sys.modules:
        ext = _stub("torchaudio._extension")
        for flag in ("_IS_TORCHAUDIO_EXT_AVAILABLE", "_IS_RIR_AVAILABLE", "_IS_ALIGN_AVAILABLE"):
            setattr(ext, flag, False)
        ext.fail_if_no_rir = ext.fail_if_no_align = lambda fn: fn  # type: ignore[attr-defined]
        ext._check_cuda_version = ext._init_dll_path = lambda *a, **k: None  # type: ignore[attr-defined]


def available() -> bool:
    """Whether hear21passt imports (with the shims)."""
    install_shims()
    try:
        importlib.import_module("hear21passt.base")
    except ImportError:
        return False
    return True


REFERENCE_MODULES = {
    "passt_base": ("hear21passt.base", "get_basic_timestamp_embeddings", 1295),
    "passt_2lvl": ("hear21passt.base2level", "get_2lvl_timestamp_embeddings", 1295 * 2),
    "passt_2lvlmel": ("hear21passt.base2levelmel", "get_2lvlmel_timestamp_embeddings", 768 + 1295 * 2),
    "passt_lm2rf_hop5": ("hear21passt.hop160base2lvlmel", None, 768 + 1295 * 2),
}
"""Our variant -> (reference module, its timestamp function, its declared timestamp size).

``passt_lm2rf_hop5`` has no module of its own in hear21passt: its oracle is composed from the
wrapper of ``hop160base2lvlmel`` (the 5 ms STFT and the network trained for it), see
:func:`_lm2rf_functions`.
"""

_GEOMETRY = {320: ("passt_s_swa_p16_128_ap476", 998), 160: ("stfthop160", 2000)}
"""STFT hop (samples) -> (hear21passt architecture name, input frames)."""


def reference_module(variant: str) -> types.ModuleType:
    """The hear21passt module of ``variant`` (:data:`REFERENCE_MODULES`), imported through the shims."""
    install_shims()
    return importlib.import_module(REFERENCE_MODULES[variant][0])


def build_reference(variant: str, seed: int) -> tuple[torch.nn.Module, Callable, Callable]:
    """The authors' wrapper for ``variant`` with seeded random weights.

    Returns:
        ``(wrapper, scene_fn, timestamp_fn)`` where the functions take ``(audio, wrapper)``.
    """
    module = reference_module(variant)
    _, ts_name, ts_size = REFERENCE_MODULES[variant]
    from hear21passt.models.passt import get_model
    from hear21passt.models.preprocess import AugmentMelSTFT
    from hear21passt.wrapper import PasstBasicWrapper

    hop = 160 if variant == "passt_lm2rf_hop5" else 320
    arch, frames = _GEOMETRY[hop]
    torch.manual_seed(seed)
    with contextlib.redirect_stdout(io.StringIO()):
        mel = AugmentMelSTFT(n_mels=128, sr=32000, win_length=800, hopsize=hop, n_fft=1024, freqm=48, timem=192,
                             htk=False, fmin=0.0, fmax=None, norm=1, fmin_aug_range=10, fmax_aug_range=2000)
        net = get_model(arch=arch, pretrained=False, input_tdim=frames)
    wrapper = PasstBasicWrapper(mel=mel, net=net, timestamp_embedding_size=ts_size).eval()
    if ts_name is None:
        return (wrapper, *_lm2rf_functions())
    return wrapper, module.get_scene_embeddings, getattr(module, ts_name)


def _lm2rf_functions() -> tuple[Callable, Callable]:
    """Reference scene and timestamp functions of ``passt_lm2rf_hop5`` from the wrapper's own methods.

    Timestamps: the M columns (after the 527 logits) of the wrapper's ``get_timestamp_embeddings`` at
    160 ms and 640 ms, then its ``get_timestamp_mels`` of 30 ms (960 samples, 6 frames at hop 160).
    Scene, for clips up to the 10 s model window: the M columns of the wrapper's forward pass, then
    the per-band mean of its mel spectrogram (the network's input).
    """

    def timestamps(audio: torch.Tensor, wrapper: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            short, stamps = wrapper.get_timestamp_embeddings(audio)
            long, _ = wrapper.get_timestamp_embeddings(audio, window_size=wrapper.timestamp_window * 4)
            mels, _ = wrapper.get_timestamp_mels(audio, window_size=960)
        return torch.cat((short[..., 527:], long[..., 527:], mels), dim=-1), stamps

    def scene(audio: torch.Tensor, wrapper: torch.nn.Module) -> torch.Tensor:
        if audio.shape[1] > wrapper.max_model_window:
            raise ValueError("the passt_lm2rf_hop5 oracle covers clips up to the 10 s model window")
        with torch.no_grad():
            mid = wrapper(audio)[:, 527:]
            mel = wrapper.mel(audio).mean(dim=-1)
        return torch.cat((mid, mel), dim=1)

    return scene, timestamps


def quiet(fn: Callable, *args: object) -> object:
    """Call ``fn`` with the reference's prints silenced."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)
