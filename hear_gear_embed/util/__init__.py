"""Generic helpers below every other subpackage: units, chunking, names, devices and lazy exports.

Nothing here knows about audio models, and nothing here imports the rest of the package.
"""
