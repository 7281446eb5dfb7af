"""One module per family of event-file formats; `motionlayers.io.events` dispatches to them.

Every reader takes ``(path, sensor_size)`` and returns a validated `Events` (see
`motionlayers.io.event_container` for the conventions: t in int64 microseconds, (W, H) sensor
size, polarity +1/-1, y growing downwards).
"""
