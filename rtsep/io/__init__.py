"""Files in and out: audio (:mod:`~rtsep.io.audio`), the MUSDB18-HQ track layout
(:mod:`~rtsep.io.tracks`), atomic writes (:mod:`~rtsep.io.files`) and JSON
(:mod:`~rtsep.io.jsonio`). Nothing here knows about models or JACK."""
