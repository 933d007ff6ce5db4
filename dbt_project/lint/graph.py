"""dbt's `graph` for sqlfluff's jinja templater (`library_path` in .sqlfluff), which has none:
the models of the marts' properties file with their declared columns, as dbt's graph gives
them. Only for linting; dbt builds with its own graph."""

from pathlib import Path

import yaml

_PROPERTIES = Path(__file__).parents[1] / "models" / "marts" / "_marts__models.yml"

nodes = {
    f"model.spotify.{model['name']}": {
        "columns": {column["name"]: column for column in model.get("columns", [])}
    }
    for model in yaml.safe_load(_PROPERTIES.read_text(encoding="utf-8"))["models"]
}
