"""Development settings: debug on, relaxed email verification, local defaults."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# NOVATIME_ADMIN_REQUIRE_OTP stays on (base.py): the demo seeds no staff account,
# and a staff account made with createsuperuser enrols in two-factor like in
# production (apps/iam/README.md, "Two-factor"). NOVATIME_ADMIN_REQUIRE_OTP=0 in
# .env gives a password-only console on a throwaway local setup.
