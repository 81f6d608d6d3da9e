"""hear_gear_embed: PaSST audio embeddings behind the HEAR 2021 API, and tools to understand them.

Importing the package itself gives the HEAR module of the default variant, ``passt_base``::

    import hear_gear_embed
    model = hear_gear_embed.load_model()          # official checkpoint (cached / downloaded)
    emb = hear_gear_embed.get_scene_embeddings(audio, model)

Other variants: ``hear_gear_embed.hear.<name>`` for any name of :func:`list_variants`; ``lowlevel_mel``,
``lowlevel_cqt`` and ``handcrafted`` need no weights. Configurations and the registry are pure data;
torch is imported when a model is first needed.
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
    from .embedding.embedder import Embedder, load_embedder

    # At run time these come from hear_gear_embed.hear.passt_base, a module made on import by the finder of
    # hear_gear_embed.hear that no type checker can see. Its embedding functions are these; its load_model is
    # hear._api.load_model bound to variant "passt_base" (the same signature without `variant`).
    from .hear._api import get_scene_embeddings, get_timestamp_embeddings, load_model

__getattr__, __dir__ = lazy_exports(__name__, {
    "Embedder": ".embedding.embedder", "load_embedder": ".embedding.embedder", "load_model": ".hear.passt_base",
    "get_scene_embeddings": ".hear.passt_base", "get_timestamp_embeddings": ".hear.passt_base",
})

__all__ = [
    "KINDS",
    "PRETRAINED",
    "CqtConfig",
    "Embedder",
    "FeatureBlock",
    "FeatureConfig",
    "Kind",
    "MelConfig",
    "PasstConfig",
    "PretrainedWeights",
    "VariantConfig",
    "WindowBlock",
    "__version__",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "get_variant",
    "list_variants",
    "load_embedder",
    "load_model",
    "register_variant",
]
