"""Settings: environment (``SURMESURE_<SECTION>__<KEY>``) > ``surmesure.toml`` > defaults.

Built only in composition roots (``create_app``, the CLI, the worker); nothing here
runs at import time. ``Settings.check_secrets`` refuses default or empty secrets
outside demo mode.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from surmesure.errors import ConfigError

__all__ = [
    "DEMO_SECRET_KEY",
    "DEMO_WRITE_KEY",
    "AuditSettings",
    "CFPrivacySettings",
    "ConsentSettings",
    "ExternalIdSettings",
    "IdentitySettings",
    "IngestSettings",
    "KeySettings",
    "PrivacySettings",
    "RecommendationSettings",
    "RetentionSettings",
    "ServerSettings",
    "Settings",
    "StoreSettings",
    "load_settings",
]

DEMO_WRITE_KEY = "demo-write-key"
DEMO_SECRET_KEY = "demo-secret-key-not-for-production"  # noqa: S105 - the documented demo default
_DEFAULT_HASH_KEY = "change-me-identity-hash-key"


class StoreSettings(BaseModel):
    url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means an SQLite file `surmesure.db` in the data directory.",
    )
    pool_size: int = Field(default=5, ge=1)
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="FULL",
        description="FULL survives power loss; NORMAL survives process crashes (WAL) and is faster.",
    )


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


class KeySettings(BaseModel):
    write_keys: list[str] = Field(
        default_factory=list,
        description="Public write keys: ingestion only. A client sends one as the HTTP Basic user.",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Server-side secret key: read, export, admin. Required outside demo mode.",
    )


class IngestSettings(BaseModel):
    max_event_bytes: int = Field(default=32 * 1024, ge=1024)
    max_batch_bytes: int = Field(default=500 * 1024, ge=1024)
    max_future_skew_seconds: int = Field(default=24 * 3600, ge=0)
    max_pending_events: int = Field(
        default=50_000, ge=100, description="Events waiting for commit before 503 Retry-After."
    )
    group_commit_max_events: int = Field(default=5_000, ge=1)
    group_commit_wait_ms: float = Field(
        default=2.0,
        ge=0,
        description=(
            "Under concurrent requests, how long a group commit waits for more requests to share "
            "its transaction and fsync (0: never waits)."
        ),
    )
    known_event_types: list[str] = Field(
        default_factory=lambda: ["track", "identify", "page", "screen", "alias", "group"]
    )


class ExternalIdSettings(BaseModel):
    """An external identifier (CRM id, device id) read from a dotted path of each event."""

    name: str
    paths: list[str] = Field(description="Dotted paths, e.g. `traits.crm_id`, `context.device.id`.")
    max_per_profile: int = Field(default=1, ge=1)
    strong: bool = Field(
        default=True,
        description="Strong ids anchor a person (like a user id); weak ids (devices) may be shared.",
    )


class IdentitySettings(BaseModel):
    external_ids: list[ExternalIdSettings] = Field(
        default_factory=lambda: [
            ExternalIdSettings(name="crm_id", paths=["traits.crm_id", "context.traits.crm_id"]),
            ExternalIdSettings(
                name="device_id", paths=["context.device.id"], max_per_profile=10, strong=False
            ),
        ]
    )
    max_anonymous_ids_per_profile: int = Field(default=200, ge=1)
    max_emails_per_profile: int = Field(default=3, ge=1)
    hash_key: SecretStr = Field(
        default=SecretStr(_DEFAULT_HASH_KEY),
        description="Key of the keyed hash (HMAC-SHA256) applied to emails before storage.",
    )
    affinity_half_life_days: float = Field(default=30.0, gt=0)


class PurposeSettings(BaseModel):
    """A purpose a deployment declares beyond the three built-in ones."""

    model_config = ConfigDict(extra="forbid")

    basis: Literal["consent", "legitimate_interest"] = "consent"
    default: bool | None = Field(
        default=None,
        description="Allowed before the person chooses; None: from the basis. Never true under `consent`.",
    )
    title: str = Field(default="", max_length=80, description="Its name in the preference centre.")
    description: str = Field(default="", max_length=500, description="What it is for, in plain words.")

    @model_validator(mode="after")
    def _lawful_default(self) -> PurposeSettings:
        if self.basis == "consent" and self.default:
            raise ValueError("a purpose based on consent is off until granted: default must be false")
        return self


class ConsentSettings(BaseModel):
    """Legal basis per purpose: `consent` means off unless granted; others mean on unless refused."""

    analytics: Literal["consent", "legitimate_interest"] = "legitimate_interest"
    personalization: Literal["consent", "legitimate_interest"] = "consent"
    marketing: Literal["consent", "legitimate_interest"] = "consent"
    # excluded from model_dump(): code that reads the three bases as a dict keeps working
    purposes: dict[str, PurposeSettings] = Field(
        default_factory=dict,
        exclude=True,
        max_length=20,
        description="Purposes a deployment declares: [consent.purposes.<name>] basis, default, title.",
    )

    @field_validator("purposes")
    @classmethod
    def _purpose_names(cls, value: dict[str, PurposeSettings]) -> dict[str, PurposeSettings]:
        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]{1,39}", name):
                raise ValueError(f"purpose {name!r}: 2-40 characters of a-z 0-9 _, starting with a letter")
            if name in ("analytics", "personalization", "marketing"):
                raise ValueError(f"purpose {name!r} is built in: set its basis as consent.{name}")
        return value

    def bases(self) -> dict[str, Literal["consent", "legitimate_interest"]]:
        """Every purpose (built in, then declared) and its legal basis."""
        out: dict[str, Literal["consent", "legitimate_interest"]] = {
            "analytics": self.analytics,
            "personalization": self.personalization,
            "marketing": self.marketing,
        }
        out.update((name, p.basis) for name, p in self.purposes.items())
        return out

    def defaults(self) -> dict[str, bool]:
        """Every purpose and whether it is allowed before the person chooses."""
        out = {name: basis == "legitimate_interest" for name, basis in self.bases().items()}
        out.update((name, p.default) for name, p in self.purposes.items() if p.default is not None)
        return out


class PreferenceSettings(BaseModel):
    """The preference centre and "why am I seeing this" (docs/privacy.md)."""

    link_ttl_hours: float = Field(
        default=168.0,
        gt=0,
        le=2160,
        description="How long a signed preference-centre link stays valid (7 days; at most 90).",
    )
    why_limit: int = Field(default=20, ge=1, le=200, description="Decisions and answers shown by default.")


class PrivacySettings(BaseModel):
    ip_mode: Literal["truncate", "hash", "drop"] = "truncate"
    pseudonymize: bool = Field(default=False, description="Store keyed pseudonyms of personal ids.")
    pseudonym_version: int = Field(default=1, ge=1, le=999, description="The key version of new pseudonyms.")
    pseudonym_keys: dict[int, SecretStr] = Field(default_factory=dict, description="Keys by version (env).")
    minimize: dict[Literal["properties", "traits", "context"], list[str]] = Field(default_factory=dict)
    scrub_after_erase: bool = Field(
        default=True,
        description=(
            "After an erasure, rewrite the SQLite file (VACUUM) and truncate its WAL, so no freed "
            "page keeps the person's bytes; costs time in proportion to the store's size."
        ),
    )
    tombstone_refresh_ms: int = Field(
        default=500, ge=50, description="How often a server reads erasures made by other processes."
    )


class RetentionSettings(BaseModel):
    """How long each kind of data is kept, in days; 0 keeps it for ever (docs/privacy.md)."""

    events_days: int = Field(default=730, ge=0, description="Events, by the time they were received.")
    quarantine_days: int = Field(default=30, ge=0, description="Refused events (`event_quarantine`).")
    conflicts_days: int = Field(default=30, ge=0, description="messageId conflicts (`event_conflicts`).")
    dead_letters_days: int = Field(default=90, ge=0, description="Pipeline dead letters.")
    decisions_days: int = Field(
        default=395,
        ge=0,
        description="The decision log, exposures and recommendation answers shown (13 months).",
    )
    merges_days: int = Field(
        default=730, ge=0, description="The merge log; an older merge can no longer be undone."
    )
    purge_every_hours: float = Field(
        default=24.0,
        ge=0,
        description="How often the server runs the purge; 0: only `surmesure privacy purge`.",
    )


class PipelineSettings(BaseModel):
    """The pipeline worker: what turns committed events into profiles (and later more)."""

    mode: Literal["process", "thread"] = Field(
        default="process",
        description=(
            "`process`: a worker process beside the server, so ingestion and profiles use two "
            "cores; `thread`: a thread of the server process (tests, tiny deployments)."
        ),
    )
    poll_interval_ms: int = Field(
        default=5, ge=1, description="How often an idle worker looks for new events."
    )
    max_commits_per_step: int = Field(
        default=500, ge=1, description="Group commits folded into profiles in one transaction."
    )
    max_events_per_step: int = Field(
        default=20_000, ge=1, description="Events folded into profiles in one transaction (about)."
    )
    min_events_per_step: int = Field(
        default=10_000,
        ge=1,
        description=(
            "While fewer events than this wait, the worker waits up to `max_delay_ms` for more: "
            "a step's cost is mostly per person and per transaction, not per event."
        ),
    )
    max_delay_ms: int = Field(
        default=400, ge=0, description="The longest an event waits for others before its step runs."
    )


class CFPrivacySettings(BaseModel):
    """Differentially private collaborative filtering (docs/audit.md, "Private training")."""

    mode: Literal["off", "dp"] = Field(
        default="off",
        description=(
            "`dp`: the hybrid's EASE part is trained on a noisy item-item Gram matrix of bounded, "
            "binary contributions (epsilon-differential privacy per person)."
        ),
    )
    epsilon: float = Field(
        default=4.0,
        gt=0,
        description="The privacy budget: smaller is more private and less accurate; inf: no noise.",
    )
    delta: float = Field(default=1e-6, gt=0, lt=1, description="The Gaussian mechanism's delta.")
    mechanism: Literal["gaussian", "laplace"] = Field(
        default="gaussian",
        description="`laplace`: pure epsilon-DP; `gaussian`: (epsilon, delta)-DP, less noise.",
    )
    max_items_per_person: int = Field(
        default=32, ge=1, description="Contributions bounded per person (a random sample of their items)."
    )
    seed: int | None = Field(default=None, description="Seed of the noise (None: fresh randomness).")


class RecommendationSettings(BaseModel):
    """Training and serving of recommendations (docs/recommendations.md)."""

    retrain_every_minutes: int = Field(
        default=0, ge=0, description="Retrain in a background process this often; 0: only `surmesure train`."
    )
    keep_versions: int = Field(default=3, ge=1, description="Model versions kept in the data directory.")
    reload_check_seconds: float = Field(
        default=2.0, gt=0, description="How often the server looks for a new model and catalogue changes."
    )
    max_items: int = Field(
        default=5_000,
        ge=1,
        description="Items modelled by EASE (the most popular); the hybrid scores the rest otherwise.",
    )
    max_events: int = Field(
        default=5_000_000, ge=1, description="Events read for one training, oldest first."
    )
    half_life_days: float = Field(
        default=30.0, gt=0, description="Recency: an event's weight halves this often."
    )
    weights: dict[str, float] = Field(
        default_factory=dict,
        description="Weight per kind (view, add_to_cart, purchase) over the defaults 1, 3, 5.",
    )
    history_events: int = Field(
        default=200, ge=1, description="A visitor's latest events read to build their row at request time."
    )
    privacy: CFPrivacySettings = Field(default_factory=CFPrivacySettings)


class AuditSettings(BaseModel):
    """Fairness audits and the filter-bubble monitor (docs/audit.md)."""

    protected: list[str] = Field(
        default_factory=list,
        description=(
            "Profile paths audited for fairness and never usable for targeting, e.g. "
            "`traits.gender`, `traits.age_band`."
        ),
    )
    min_ratio: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Alert when a group's exposure rate is below this share of the highest (four-fifths).",
    )
    min_group: int = Field(default=10, ge=1, description="People a group needs before it can raise an alert.")
    confidence: float = Field(default=0.95, gt=0, lt=1, description="Level of the intervals.")
    bubble_min_diversity: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Flag a person whose latest week's intra-list diversity is below this.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SURMESURE_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    demo: bool = Field(default=False, description="Demo mode: demo keys allowed, demo shop served.")
    data_dir: Path = Field(default=Path("./data"), description="Store file, models, exports.")
    store: StoreSettings = Field(default_factory=StoreSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    keys: KeySettings = Field(default_factory=KeySettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    consent: ConsentSettings = Field(default_factory=ConsentSettings)
    preferences: PreferenceSettings = Field(default_factory=PreferenceSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    recommendations: RecommendationSettings = Field(default_factory=RecommendationSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("SURMESURE_CONFIG", "surmesure.toml")
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    @property
    def store_url(self) -> str:
        if self.store.url:
            return self.store.url
        return f"sqlite:///{(self.data_dir / 'surmesure.db').resolve()}"

    @property
    def write_keys(self) -> frozenset[str]:
        keys = set(self.keys.write_keys)
        if self.demo:
            keys.add(DEMO_WRITE_KEY)
        return frozenset(keys)

    @property
    def secret_key(self) -> str:
        value = self.keys.secret_key.get_secret_value()
        if not value and self.demo:
            return DEMO_SECRET_KEY
        return value

    def check_secrets(self) -> None:
        """Refuse to serve with empty or default secrets outside demo mode."""
        if self.demo:
            return
        secret = self.keys.secret_key.get_secret_value()
        if not secret or secret == DEMO_SECRET_KEY or len(secret) < 16:
            raise ConfigError(
                "keys.secret_key must be set to a random value of 16 characters or more "
                "outside demo mode (SURMESURE_KEYS__SECRET_KEY)",
                setting="keys.secret_key",
            )
        if self.identity.hash_key.get_secret_value() in ("", _DEFAULT_HASH_KEY):
            raise ConfigError(
                "identity.hash_key must be set to a random value outside demo mode "
                "(SURMESURE_IDENTITY__HASH_KEY)",
                setting="identity.hash_key",
            )
        if DEMO_WRITE_KEY in self.keys.write_keys:
            raise ConfigError("the demo write key is refused outside demo mode", setting="keys.write_keys")

    def masked(self) -> dict[str, Any]:
        """Effective values with secrets masked, for `surmesure config show`."""
        data = self.model_dump(mode="json")
        data["store"]["url"] = self.store_url
        if "@" in data["store"]["url"] and "://" in data["store"]["url"]:
            scheme, rest = data["store"]["url"].split("://", 1)
            creds, host = rest.rsplit("@", 1)
            user = creds.split(":", 1)[0]
            data["store"]["url"] = f"{scheme}://{user}:***@{host}" if ":" in creds else data["store"]["url"]
        data["keys"]["secret_key"] = "***" if self.keys.secret_key.get_secret_value() else ""
        data["identity"]["hash_key"] = "***"
        return data


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and `surmesure.toml`, with explicit overrides on top."""
    return Settings(**overrides)
