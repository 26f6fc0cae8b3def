"""Experiments: A/B/n tests, bandits and off-policy evaluation (PRODUCT.md capability 11).

What it does
------------
* ``assignment`` — deterministic, sticky assignment of a person to an arm (a keyed hash
  of experiment id, salt and a stable person key), A/B/n weights with a holdout share,
  and the exposure records a store keeps; the rule that keeps an assignment through the
  anonymous-to-known merge.
* ``stats`` — CTR, conversion and revenue per visitor per arm with confidence intervals
  (Wilson, normal, Welch, bootstrap) and an always-valid test (the normal-mixture
  sequential probability ratio test and its confidence sequence) that may be looked at
  after every visitor.
* ``bandits`` — Bernoulli Thompson sampling, linear Thompson sampling and LinUCB, with
  exploration bounded by a floor and a ceiling on each arm's probability; every decision
  returns its propensity.
* ``ope`` — off-policy estimators (IPW, self-normalized IPW, direct method, doubly
  robust) on logged decisions shaped like obp's bandit feedback.

What it may import
------------------
This is the pure core: numpy, scipy, scikit-learn and the standard library, plus the
foundation (``errors``). No database, no HTTP, no other capability: experiments on
placements (definitions, exposures, the decision log, results) are stored and served by
``decisions``, which calls this core.
"""
