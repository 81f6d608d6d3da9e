"""Generic helpers below every other subpackage: units, chunking, names, devices, lazy exports, and files (written
whole, folders checked and locked, ``.npz`` files read back whole).

Nothing here knows about audio models, and nothing here imports the rest of the package.
"""
