"""``sample_rate``: tracking a deterministic, hash-based fraction of an account's refs."""

from __future__ import annotations

import hashlib


def sampled_in(account: str, ref_key: str, rate: float) -> bool:
    """Deterministic: the same ref is always in or always out at a given rate."""
    if rate >= 1.0:
        return True
    digest = hashlib.blake2b(f"{account}\0{ref_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate
