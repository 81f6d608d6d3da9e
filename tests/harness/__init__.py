"""End-to-end evaluation harness helpers (synthetic HEAR 2021 tasks for hear-eval-kit)."""
