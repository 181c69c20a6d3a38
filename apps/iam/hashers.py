"""Argon2id with OWASP's recommended parameters instead of Django's defaults.

Django's ``Argon2PasswordHasher`` uses 100 MiB of memory and 8 lanes per hash:
about 300 ms on a 2-core machine, which dominated signup and login latency, and
lets a burst of concurrent logins exhaust a small web node's memory. OWASP's
Password Storage Cheat Sheet recommends argon2id with m=19 MiB, t=2, p=1 as
the baseline. The algorithm name stays ``argon2``, so hashes made with other
parameters are still verified and transparently re-hashed at the next login
(``must_update``). Parameters can be raised per deployment in settings.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class NovaTimeArgon2PasswordHasher(Argon2PasswordHasher):
    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return settings.NOVATIME_ARGON2["time_cost"]

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return settings.NOVATIME_ARGON2["memory_cost"]

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return settings.NOVATIME_ARGON2["parallelism"]
