"""Settings for the fan-out benchmark's comparison run: the dev settings with
channels-redis' Pub/Sub layer instead of the list-based core layer.

The core layer delivers a group message to a process as one Redis list entry
*per member channel*, popped one ``BZPOPMIN`` at a time by the process'
receive loop; the Pub/Sub layer publishes once per group and the process
fans out to its local sockets in memory. Used only by
``bench.realtime_fanout --layer pubsub``.
"""

from config.settings.dev import *  # noqa: F403
from config.settings.dev import NOVATIME_ENV_PREFIX, REDIS_URL

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{NOVATIME_ENV_PREFIX}:asgi"},
    }
}
