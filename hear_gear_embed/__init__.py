"""hear_gear_embed: PaSST audio embeddings behind the HEAR 2021 API.

Importing the package itself gives the HEAR module of the default variant, ``passt_base``::

    import hear_gear_embed
    model = hear_gear_embed.load_model()          # official checkpoint (cached / downloaded)
    emb = hear_gear_embed.get_scene_embeddings(audio, model)

Other variants: ``hear_gear_embed.hear.<name>`` (see :func:`list_variants`); ``lowlevel_mel``,
``lowlevel_cqt`` and ``handcrafted`` need no weights.
"""

from .config import Checkpoint, CqtConfig, FeatureBlock, FeatureConfig, MelConfig, PasstConfig, VariantConfig, WindowBlock
from .embedding.embedder import Embedder, load_embedder
from .hear import hear_functions
from .registry import CHECKPOINTS, get_variant, list_variants, register_variant

__version__ = "0.1.0"

load_model, get_scene_embeddings, get_timestamp_embeddings = hear_functions("passt_base")

__all__ = [
    "CHECKPOINTS",
    "Checkpoint",
    "CqtConfig",
    "Embedder",
    "FeatureBlock",
    "FeatureConfig",
    "MelConfig",
    "PasstConfig",
    "VariantConfig",
    "WindowBlock",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "get_variant",
    "list_variants",
    "load_embedder",
    "load_model",
    "register_variant",
]
