"""surmesure: self-hosted personalization — the right message, to the right person, at
the right time, on the right channel, with their consent."""

__all__ = ["__version__"]

__version__ = "0.1.0"
