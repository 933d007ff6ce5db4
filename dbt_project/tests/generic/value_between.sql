{#- Generic test: rows whose value lies outside [min_value, max_value] (nulls pass). -#}
{% test value_between(model, column_name, min_value, max_value) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} not between {{ min_value }} and {{ max_value }}
{% endtest %}
