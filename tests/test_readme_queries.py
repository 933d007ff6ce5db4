"""Every example query in the README runs on a real warehouse and returns rows."""

import re

import pytest

from ml import warehouse
from ml.settings import PROJECT_ROOT


def readme_queries() -> list[str]:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"## Example queries\n\n```sql\n(.*?)```", readme, flags=re.S)
    queries = [query.strip() for query in block.split(";") if query.strip()]
    assert len(queries) == 5
    return queries


@pytest.mark.parametrize("number", range(1, 6))
def test_readme_query_returns_rows(sample_run, number):
    result = warehouse.run_query(sample_run.warehouse, readme_queries()[number - 1])
    assert len(result) > 0
