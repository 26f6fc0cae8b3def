"""Developer tool: write a new Alembic revision from the tables the code declares.

    python scripts/autogenerate_migration.py "what changed" 0002
"""
import sys, sqlalchemy as sa
from alembic import command
from alembic.config import Config
from pathlib import Path
import surmesure.events.store, surmesure.profiles.store, surmesure.catalog.store  # noqa
from surmesure import db
engine = db.create_engine("sqlite:////tmp/autogen.db")
cfg = Config()
cfg.set_main_option("script_location", "src/surmesure/migrations")
with engine.begin() as conn:
    cfg.attributes["connection"] = conn
    cfg.attributes["target_metadata"] = db.metadata
    command.upgrade(cfg, "head")
    command.revision(cfg, message=sys.argv[1], autogenerate=True, rev_id=sys.argv[2])

# JsonText is stored as TEXT: migrations stay free of project imports.
for path in Path("src/surmesure/migrations/versions").glob(f"{sys.argv[2]}_*.py"):
    path.write_text(path.read_text().replace("surmesure.db.JsonText()", "sa.Text()"))
