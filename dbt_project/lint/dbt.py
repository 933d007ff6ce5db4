"""dbt's cross-database macros the models use (`dbt.type_string()`, `dbt.datediff()`), for
sqlfluff's jinja templater, as dbt-duckdb renders them. Only for linting."""


def type_string() -> str:
    return "varchar"


def datediff(first_date: str, second_date: str, datepart: str) -> str:
    return f"date_diff('{datepart}', {first_date}, {second_date})"
