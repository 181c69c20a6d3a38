"""The hostile-input walk's figures in the terminal summary."""

from __future__ import annotations

from typing import Any

from tests.isolation.conftest import world  # noqa: F401  (the seeded organizations)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.fuzz.test_hostile_walk import FULL, RESULTS

    if not RESULTS:
        return
    mode = "full" if FULL else "bounded"
    for key, walked in sorted(RESULTS.items()):
        classes = ", ".join(f"{name} {n}" for name, n in walked.by_class.items())
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(walked.statuses.items()))
        terminalreporter.write_line(
            f"hostile walk ({mode}) {key}: {len(walked.operations)} operations x "
            f"{len(walked.by_class)} classes = {walked.requests} requests in "
            f"{walked.seconds:.0f} s ({walked.send_seconds:.0f} s in requests); "
            f"5xx: {len(walked.server_errors)}, "
            f"bad 4xx shape: {len(walked.bad_shape)}, writes by refused requests: "
            f"{len(walked.writes)}; on_commit callbacks run: {walked.on_commit_callbacks} "
            f"[{classes}] [{statuses}]"
        )
