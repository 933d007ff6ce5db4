"""dbt's `adapter` for sqlfluff's jinja templater (`library_path` in .sqlfluff), which has none:
`dispatch` picks the duckdb__ version of a macro (sqlfluff lints the DuckDB SQL) and `quote`
quotes a name as DuckDB does. Only for linting; dbt builds with its own adapter."""

from jinja2 import pass_context


@pass_context
def dispatch(context, macro_name: str, macro_namespace: str | None = None):
    return context[f"duckdb__{macro_name}"]


def quote(identifier: str) -> str:
    return f'"{identifier}"'
