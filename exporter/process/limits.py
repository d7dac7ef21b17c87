"""The process's open-file limit: raised to its hard limit, so connections can use it."""

from __future__ import annotations

import contextlib
import resource


def raise_open_files_limit() -> int:
    """Raise the soft limit of open descriptors to the hard one; the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
