"""Recommendations: the items a person (known or anonymous) most likely wants, with
variety, under business rules, with a reason. May import: the foundation only
(errors, config, clock); never events, profiles, catalog or any edge.

This package is the pure core: NumPy, SciPy sparse matrices and scikit-learn, no SQL
and no HTTP (serving, training jobs and storage of artifacts wire it up elsewhere).

``interactions`` (events → a weighted userxitem CSR matrix, id maps, replenishable
items) · ``items`` (the item table the models and rules read) · ``algorithms`` (the
estimators: ``Popularity``, ``ItemCooccurrence``, ``EASE``, ``ALS``, ``ContentBased``,
``SessionKNN``, ``Hybrid`` — one interface, ``fit``/``recommend``/``save``/``load``) ·
``rerank`` (serving rules, MMR, category spread, exploration) · ``reasons`` (why an item
is shown, and how to say it to a shopper) · ``errors``.
"""
