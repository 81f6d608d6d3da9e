"""hear_gear_embed: PaSST audio embeddings behind the HEAR 2021 API, and tools to understand them.

The front door is :func:`load`, which gives an :class:`EmbeddingModel` for any variant or HEAR module::

    import hear_gear_embed as hge
    model = hge.load("passt_2lvlmel")             # official checkpoint (cached / downloaded)
    out = model.embed(audio, kinds=("scene",))    # (n_clips, n_samples) -> one ClipEmbeddings per clip

Importing the package also gives the HEAR module of the default variant, ``passt_base`` (``hear_gear_embed.load_model()``,
``get_scene_embeddings``, ``get_timestamp_embeddings``); other variants are ``hear_gear_embed.hear.<name>`` for any
name of :func:`list_variants`. Configurations and the registry are pure data; torch is imported when a model is needed.
"""

from typing import TYPE_CHECKING

from ._version import __version__
from .embedding.config import KINDS, FeatureBlock, Kind, VariantConfig, WindowBlock
from .features.config import FeatureConfig
from .frontends.config import CqtConfig, MelConfig
from .model.config import PasstConfig
from .model.weights import PRETRAINED, PretrainedWeights
from .registry import get_variant, list_variants, register_variant
from .util.lazy import lazy_exports

if TYPE_CHECKING:
    from .embedding.embedder import Embedder
    from .embedding.factory import load_embedder

    # At run time these come from hear_gear_embed.hear.passt_base, a module made on import by the finder of
    # hear_gear_embed.hear that no type checker can see. Its embedding functions are these; its load_model is
    # hear._api.load_model bound to variant "passt_base" (the same signature without `variant`).
    from .hear._api import get_scene_embeddings, get_timestamp_embeddings, load_model
    from .hear.handle import ClipEmbeddings, ClipError, EmbeddingModel, LazyClips
    from .hear.identity import ModelIdentity
    from .hear.spec import ModelSpec, load

__getattr__, __dir__ = lazy_exports(__name__, {
    "Embedder": ".embedding.embedder", "load_embedder": ".embedding.factory", "load_model": ".hear.passt_base",
    "get_scene_embeddings": ".hear.passt_base", "get_timestamp_embeddings": ".hear.passt_base",
    "load": ".hear.spec", "EmbeddingModel": ".hear.handle", "ModelSpec": ".hear.spec",
    "ClipEmbeddings": ".hear.handle", "ClipError": ".hear.handle", "LazyClips": ".hear.handle",
    "ModelIdentity": ".hear.identity",
})

__all__ = [
    "KINDS",
    "PRETRAINED",
    "ClipEmbeddings",
    "ClipError",
    "CqtConfig",
    "Embedder",
    "EmbeddingModel",
    "FeatureBlock",
    "FeatureConfig",
    "Kind",
    "LazyClips",
    "MelConfig",
    "ModelIdentity",
    "ModelSpec",
    "PasstConfig",
    "PretrainedWeights",
    "VariantConfig",
    "WindowBlock",
    "__version__",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "get_variant",
    "list_variants",
    "load",
    "load_embedder",
    "load_model",
    "register_variant",
]
