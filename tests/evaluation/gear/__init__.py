"""Tests of :mod:`hear_gear_embed.evaluation.gear`, one file per module; what they share: the fake HEAR module's name,
small analysis settings and tone grid, and the PNG signature."""

from hear_gear_embed.evaluation.gear import GearSettings

FAKE = "tests.gear_fake_module"
SMALL = GearSettings(isomap_neighbors=12, knn_neighbors=5, trust_neighbors=5, ridge_folds=3, n_clusters=3)
GRID = {"n_alpha": 6, "n_r": 6, "duration_s": 0.25}
PNG = b"\x89PNG\r\n\x1a\n"
