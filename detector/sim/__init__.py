"""Building blocks of the synthetic-data simulator (``detector.simulate`` is the entry point).

``lexicon`` holds the shared vocabulary (words, names, hashtags, domains, clients);
``world`` the per-account state, the event log and the final assembly into the
canonical frames; ``organic``, ``operators`` and ``negatives`` the three kinds of
behaviour; ``scenarios`` the named parameter sets.
"""
