"""scripts/: bootstrap, the pinned constraints, and the Chromium probe the
browser tests use to skip where Chromium cannot start."""
