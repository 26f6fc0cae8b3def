"""Recommendations: the items a person (known or anonymous) most likely wants, with
variety, under business rules, with a reason. May import: the foundation, and the
``service``/``domain`` of catalog, events and profiles (serving reads a person's
events through their profile; training reads the catalogue and the event log).

The core is pure (NumPy, SciPy sparse matrices and scikit-learn, no SQL and no HTTP):

``interactions`` (events → a weighted userxitem CSR matrix, id maps, replenishable
items) · ``items`` (the item table the models and rules read) · ``algorithms`` (the
estimators: ``Popularity``, ``ItemCooccurrence``, ``EASE``, ``ALS``, ``ContentBased``,
``SessionKNN``, ``Hybrid`` — one interface, ``fit``/``recommend``/``save``/``load``) ·
``rerank`` (serving rules, MMR, category spread, exploration) · ``reasons`` (why an item
is shown, and how to say it to a shopper) · ``signals`` (event bodies → signals) ·
``serving`` (one answer from a loaded model) · ``errors``. The edges: ``artifacts``
(versioned model folders, the ``current`` pointer) · ``catalogue`` · ``training``
(store → artifact) · ``service`` (``Recommendations``: serve, swap, retrain on a
schedule) · ``api`` · ``cli`` (``surmesure train``).
"""
