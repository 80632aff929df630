"""The pool put to work: a frozen self-supervised encoder, its embeddings cached once, and a
small head trained on them each round.

``cache.py`` computes every pool image's embedding under an encoder once and keeps it
memory-mapped, keyed by the images and the encoder; ``frozen.py`` turns a learner recipe and
the cached embeddings into the head a frozen round trains, so every strategy (the LPM on the
head's layers included) works on it unchanged.
"""
