"""Settings package: ``base`` holds everything shared; ``dev``, ``test`` and
``production`` only override what differs between environments."""
